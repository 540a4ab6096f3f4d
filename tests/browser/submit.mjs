// Drives Debian's Chromium through playwright-core (which downloads no
// browser) against the one-time page, with JavaScript off: the page must
// work without it. Reads one JSON argument:
//   { chromium, playwright, cases: [{ url, type?, field?, value?, expect }] }
// `type` true types `value` into `field` ("value" or "multiline") and
// presses Save; otherwise the link is only opened. Prints one JSON line:
//   { results: [{ status, text, sawKey }], responses: [{ url, status,
//     headers, body }], cspViolations: [..] }
// The typed value is never printed; the caller checks that no response
// the browser got carries it.
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
const cspViolations = [];
const results = [];
try {
  const context = await browser.newContext({ javaScriptEnabled: false });
  for (const step of config.cases) {
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on("response", (response) => {
      pending.push(
        (async () => {
          let body = "";
          try {
            body = await response.text();
          } catch {
            // a redirect or an aborted body has none
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
    page.on("console", (message) => {
      if (/Content.Security.Policy/i.test(message.text())) {
        cspViolations.push(message.text());
      }
    });
    const opened = await page.goto(step.url);
    let status = opened ? opened.status() : 0;
    const sawKey = step.key ? (await page.textContent("h1")).includes(step.key) : false;
    if (step.type) {
      const selector =
        step.field === "multiline" ? "textarea[name=multiline]" : "input[name=value]";
      await page.fill(selector, step.value);
      const [answer] = await Promise.all([
        page.waitForNavigation(),
        page.click("button[value=save]"),
      ]);
      status = answer ? answer.status() : 0;
    }
    const text = await page.textContent("body");
    results.push({ status, text, sawKey });
    await page.close();
  }
  await context.close();
} finally {
  await browser.close();
}
await Promise.all(pending);
process.stdout.write(JSON.stringify({ results, responses, cspViolations }) + "\n");
