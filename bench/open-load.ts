/**
 * A constant-rate (open model) HTTP load generator, run as its own process by bench/service.ts:
 * request i is due at start + i / rate, whatever the answers before it did, and its latency is
 * measured from when it was DUE, so a server that falls behind shows its queueing in the figures
 * (no coordinated omission). autocannon's `-R` is not this: each connection sends its share of a
 * second back to back and then waits for the next second, so the load arrives in bursts and the
 * latencies measure those bursts.
 *
 * `node --import tsx bench/open-load.ts <url> <bearer token> <rate> <seconds> <connections>` prints
 * JSON: { latency: { p50, p99, max }, requests: { average, total }, errors, non2xx } (ms, req/s).
 */
import http from 'node:http';

const [url, token, rateArg, secondsArg, connectionsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connectionsArg);
if (!url || !token || !(rate > 0) || !(seconds > 0) || !(connections > 0)) {
  console.error('usage: open-load.ts <url> <token> <rate> <seconds> <connections>');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const latencies: number[] = [];
let errors = 0;
let non2xx = 0;

function request(due: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get(url!, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) non2xx++;
        latencies.push(performance.now() - due);
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
  });
}

const total = Math.round(rate * seconds);
const start = performance.now() + 10;
const pending: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(request(due));
}
await Promise.all(pending);
const elapsedS = (performance.now() - start) / 1000;
agent.destroy();

latencies.sort((a, b) => a - b);
const at = (q: number) => (latencies.length ? Number(latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!.toFixed(1)) : NaN);
console.log(JSON.stringify({ latency: { p50: at(0.5), p99: at(0.99), max: at(1) }, requests: { average: Number((latencies.length / elapsedS).toFixed(1)), total: latencies.length }, errors, non2xx }));
