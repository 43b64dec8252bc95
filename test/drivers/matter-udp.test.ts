/**
 * The Matter driver over real UDP and real mDNS: commissioning needs multicast even by known
 * address, so this runs only inside a network namespace the test makes itself (`unshare -n`,
 * loopback up with multicast and a multicast route, `MATTER_MDNS_NETWORKINTERFACE=lo`) and never touches the machine's own
 * interfaces. Where namespaces are not allowed it skips, saying so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

const child = path.join(import.meta.dirname, 'matter-udp-child.ts');
/** Loopback up, with multicast and a route for IPv4 multicast (mDNS on 224.0.0.251 needs one). */
const SETUP = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';

function namespacesAllowed(): string | null {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', SETUP], { encoding: 'utf8' });
  if (probe.error) return `unshare is not available (${probe.error.message})`;
  if (probe.status !== 0) return `network namespaces are not allowed here (${probe.stderr.trim() || `exit ${probe.status}`})`;
  return null;
}

it('commissions a matter.js lock and manages a PIN over real UDP and mDNS on loopback, in a private network namespace', (t) => {
  const refusal = namespacesAllowed();
  if (refusal) return t.skip(`needs a private network namespace: ${refusal}`);
  const run = spawnSync(
    'unshare',
    ['-n', 'sh', '-c', `${SETUP} && exec "${process.execPath}" --import tsx "${child}"`],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MATTER_MDNS_NETWORKINTERFACE: 'lo' }, cwd: path.join(import.meta.dirname, '..', '..') },
  );
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `the child reported (exit ${run.status}): ${run.stderr.slice(-2000)}`);
  const result = JSON.parse(line.slice('RESULT '.length)) as { error?: string; pins?: number[]; after?: number[]; bolt?: string; commissionMs?: number };
  assert.equal(result.error, undefined, result.error);
  assert.deepEqual(result.pins, [2]);
  assert.deepEqual(result.after, []);
  assert.match(String((result as { storage?: string }).storage), /lockwarden-matter-udp-/, 'the fabric lives under the storage path given');
  assert.equal(result.bolt, 'unlocked');
  t.diagnostic(`commissioning over UDP ${result.commissionMs} ms`);
});
