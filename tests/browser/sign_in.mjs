// Drives Debian's Chromium through playwright-core against one-time pages
// that sign the person in (OAuth): each step opens a link in the browser
// of one person (a browser context of its own, kept across that person's
// steps), signs in on the authorization server's form when it is shown,
// and types a value when the page's form is shown. JavaScript is off, as
// on the page tests. Reads one JSON argument:
//   { chromium, playwright, steps: [{ person, url, login?, value? }] }
// Prints one JSON line:
//   { results: [{ person, status, title, text, signInShown, formShown,
//                 finalUrl }], responses: [{ url, status, headers, body }] }
// The typed values are never printed; the caller checks that no response
// the browser got carries them.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(process.argv[2]);
const { chromium } = await import(
  pathToFileURL(join(config.playwright, "playwright-core", "index.mjs")).href
);

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox"],
  timeout: 60_000,
});
const responses = [];
const pending = [];
const results = [];
const contexts = new Map();
try {
  for (const step of config.steps) {
    if (!contexts.has(step.person)) {
      contexts.set(step.person, await browser.newContext({ javaScriptEnabled: false }));
    }
    const page = await contexts.get(step.person).newPage();
    page.setDefaultTimeout(30_000);
    page.on("response", (response) => {
      pending.push(
        (async () => {
          let body = "";
          try {
            body = await response.text();
          } catch {
            // a redirect has none
          }
          responses.push({
            url: response.url(),
            status: response.status(),
            headers: await response.allHeaders(),
            body,
          });
        })(),
      );
    });
    let answer = await page.goto(step.url);
    // The authorization server's sign-in form (tests/oauth/provider.mjs).
    const signInShown = (await page.locator("input[name=login]").count()) > 0;
    if (signInShown && step.login) {
      await page.fill("input[name=login]", step.login);
      [answer] = await Promise.all([
        page.waitForNavigation({ waitUntil: "load" }),
        page.click("button"),
      ]);
      // The redirects back to the page end on it.
      await page.waitForLoadState("load");
    }
    const formShown = (await page.locator("input[name=value]").count()) > 0;
    if (formShown && step.value !== undefined) {
      await page.fill("input[name=value]", step.value);
      [answer] = await Promise.all([
        page.waitForNavigation(),
        page.click("button[value=save]"),
      ]);
    }
    results.push({
      person: step.person,
      status: answer ? answer.status() : 0,
      title: await page.title(),
      text: await page.textContent("body"),
      signInShown,
      formShown,
      finalUrl: page.url(),
    });
    await page.close();
  }
} finally {
  for (const context of contexts.values()) await context.close();
  await browser.close();
}
await Promise.all(pending);
process.stdout.write(JSON.stringify({ results, responses }) + "\n");
