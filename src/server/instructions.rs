//! What the server tells every client at `initialize`.

/// The server instructions: how references work and what no tool will ever do.
pub const INSTRUCTIONS: &str = "\
This server manages Eyevinn Open Source Cloud (OSC) tenant secrets by reference. \
No tool ever returns a secret value, and none ever will: you work with keys and with references such as `{{secrets.apikey}}`, which OSC resolves itself when it starts a service. \
To wire a secret into a service: store it with set_tenant_secret under a `user.` key (or use an existing key from list_tenant_secrets), \
call materialize_tenant_secret with the key, the service id and a secret name, and pass the returned reference, exactly as returned, as the whole value of the service parameter. \
To rotate: set_tenant_secret the new value (mode `upsert`), then call materialize_tenant_secret again for every service that uses the key, because each service holds a copy made at materialize time. \
`system.*` keys belong to the platform: you can list and materialize them but not write or delete them.";
