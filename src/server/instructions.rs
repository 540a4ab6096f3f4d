//! What the server tells every client at `initialize`.

/// The server instructions: how references work and what no tool will ever do.
pub const INSTRUCTIONS: &str = "\
This server manages Eyevinn Open Source Cloud (OSC) tenant secrets by reference. \
No tool ever returns a secret value, and none ever will: you work with keys and with references such as `{{secrets.apikey}}`, which OSC resolves itself when it starts a service. \
For a credential a human holds (a third party's API key), call set_tenant_secret with `\"askUser\": true`: the human types it on a one-time page you never see. \
To make a new credential (a password, an API key between services, a signing secret), call set_tenant_secret with `\"generate\": {}`: the server makes a strong random value that nobody, you included, ever sees. \
Give `value` only for a value you already have for another reason, such as a key a third party issued; `fromEnv` names an environment variable of this server that the operator allowed. \
To wire a secret into a service: store it under a `user.` key (or use an existing key from list_tenant_secrets), \
call materialize_tenant_secret with the key, the service id and a secret name, and pass the returned reference, exactly as returned, as the whole value of the service parameter. \
To rotate: call rotate_tenant_secret with the key; it generates the new value, writes it and materializes it into every service secret this server materialized the key into, or into the `targets` you name. \
OSC resolves a reference when a service instance starts, so restart each instance to use a new value. \
`system.*` keys belong to the platform: you can list and materialize them but not write, rotate or delete them.";

/// Added to every tool result of a sandboxed server, as the last text block
/// and as the `sandbox` field of structured results.
pub const SANDBOX_NOTE: &str =
    "Sandbox: this result came from the offline OSC emulator; nothing reached Open Source Cloud.";
