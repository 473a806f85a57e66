// verify.mjs — checks webhook signatures with the Standard Webhooks
// reference library (npm standardwebhooks), not with shopd's own code.
// Reads JSON lines on stdin: {"secret", "headers":{webhook-id, webhook-timestamp,
// webhook-signature}, "body"} and writes one line per input:
// {"ok":true} or {"ok":false,"error":"…"}. Used by tests/api/test_webhooks.py.
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    const { secret, headers, body } = JSON.parse(line);
    new Webhook(secret).verify(body, headers);
    out = { ok: true };
  } catch (e) {
    out = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
