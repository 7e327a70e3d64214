// Headless Chromium loads a page from another origin (served here on a free port) that calls Assay's API
// with fetch (POST with a token, so the browser sends a preflight) and opens its WebSocket. Run once for an
// allowed origin and once for a refused one; prints what the page saw as one JSON line.
// Usage: node cors.mjs <api origin> <token> <page port>, with CHROMIUM set.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [api, token, pagePort] = process.argv.slice(2);
const page = `<!doctype html><meta charset="utf-8"><script>
async function probe() {
  const seen = {};
  try {
    const response = await fetch(${JSON.stringify(api)} + "/graphql", { method: "POST",
      headers: { "content-type": "application/json", "authorization": "Bearer ${token}" },
      body: JSON.stringify({ query: "{ me { email } }" }) });
    seen.fetch = await response.json();
  } catch (error) { seen.fetchError = String(error); }
  seen.socket = await new Promise((resolve) => {
    const socket = new WebSocket(${JSON.stringify(api.replace("http", "ws"))} + "/graphql", "graphql-transport-ws");
    socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: "Bearer ${token}" } }));
    socket.onmessage = (event) => { resolve(JSON.parse(event.data).type); socket.close(); };
    socket.onerror = () => resolve("error");
  });
  return seen;
}
</script>`;
const server = createServer((request, response) => { response.setHeader("content-type", "text/html"); response.end(page); });
await new Promise((resolve) => server.listen(Number(pagePort), "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const profile = mkdtempSync(join(tmpdir(), "assay-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const tab = browser.pages()[0] ?? await browser.newPage();
  const preflights = [];
  tab.on("request", (request) => { if (request.method() === "OPTIONS") preflights.push(request.url()); });
  await tab.goto(origin + "/", { waitUntil: "load" });
  const seen = await tab.evaluate(() => probe());
  console.log(JSON.stringify({ origin, ...seen }));
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
