// Headless Chromium opens Assay's GraphiQL with every request that is not to the server blocked, pastes a
// token, types a query and a subscription into the editor, runs them and reports what the page showed.
// Usage: node graphiql.mjs <server origin>, with ASSAY_TOKEN, ASSAY_JOB_ID and ASSAY_SCREENSHOT set.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const origin = process.argv[2];
const profile = mkdtempSync(join(tmpdir(), "assay-chromium-"));
const report = { blocked: [], offOrigin: [], consoleErrors: [], sockets: [] };
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  await browser.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + "/") || url.startsWith("data:")) return route.continue();
    report.blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(45_000);  // generous: a busy CI machine is slow to start Chromium
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(origin + "/") && !url.startsWith("data:")) report.offOrigin.push(url);
  });
  page.on("websocket", (socket) => report.sockets.push(socket.url()));
  page.on("console", (message) => { if (message.type() === "error") report.consoleErrors.push(message.text()); });
  page.on("pageerror", (error) => report.consoleErrors.push(String(error)));

  const introspected = page.waitForResponse((r) => r.url() === origin + "/graphql" && r.request().method() === "POST"
    && (r.request().postData() || "").includes("IntrospectionQuery"));
  await page.goto(origin + "/graphql", { waitUntil: "load" });
  await introspected;  // typing before the schema is in lets the hint pop-up swallow keys
  const editor = page.locator(".graphiql-query-editor .CodeMirror");
  await editor.waitFor();
  report.rendered = await page.locator(".graphiql-container").count() > 0;
  report.explorer = await page.locator('button[aria-label="Show GraphiQL Explorer"]').count() > 0;

  await page.fill("#assay-token-input", process.env.ASSAY_TOKEN);
  await page.click("#assay-token button[type=submit]");

  const response = page.locator(".graphiql-response .CodeMirror");
  async function run(text, expected) {
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(text, { delay: 5 });  // closing braces typed over the auto-inserted ones
    await page.keyboard.press("Escape");  // close any hint pop-up
    report.typed = await page.evaluate(() => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue());
    if (report.typed !== text) throw new Error(`the editor holds ${JSON.stringify(report.typed)}`);
    // GraphiQL takes up an edit after a debounce (then stores it): running sooner sends the previous
    // document's operation type, and a subscription would go over HTTP instead of the WebSocket.
    await page.waitForFunction((value) => window.localStorage.getItem("graphiql:query") === value, text);
    await page.click(".graphiql-execute-button");
    await page.waitForFunction((needle) => {
      const pane = document.querySelector(".graphiql-response .CodeMirror");
      return pane && pane.CodeMirror.getValue().includes(needle);
    }, expected);
    return JSON.parse(await page.evaluate(() => document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue()));
  }
  report.me = await run("{ me { email } }", "email");
  report.events = await run(`subscription { jobEvents(jobId: "${process.env.ASSAY_JOB_ID}") { kind job { status } } }`,
    "SUCCEEDED");
  if (process.env.ASSAY_SCREENSHOT) await page.screenshot({ path: process.env.ASSAY_SCREENSHOT });
} catch (error) {
  report.error = String(error);
  const page = browser.pages()[0];
  if (page) {
    report.shown = await page.evaluate(() => {
      const pane = document.querySelector(".graphiql-response .CodeMirror");
      return pane ? pane.CodeMirror.getValue() : document.body.innerText.slice(0, 2000);
    }).catch(String);
    if (process.env.ASSAY_SCREENSHOT) await page.screenshot({ path: process.env.ASSAY_SCREENSHOT }).catch(() => {});
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
