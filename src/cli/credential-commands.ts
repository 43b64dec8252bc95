/**
 * Commands on the credentials of locks: `pins`, `controllers`, `bulk`, and remote lock/unlock/read
 * under `locks`. Flags are checked (and parsed with the domain schemas) before anything is sent;
 * working on the data folder with no server, changes are recorded and queued, and the output says
 * they are applied when the server runs.
 */
import { Argument, type Command, Option } from 'commander';
import type { Credential } from '../domain/credentials.js';
import type { BulkView } from '../services/credential-service.js';
import type { LockwardenClient } from './client.js';
import { waitForBulk } from './bulk-wait.js';
import {
  bulkFromFlags,
  flagError,
  idArg,
  intArg,
  namingFlags,
  pinCreateFromFlags,
  pinUpdateFromFlags,
  revealFromFlags,
  type BulkAddFlags,
  type PinAddFlags,
  type PinEditFlags,
} from './credential-flags.js';
import { bulkSummary, bulkTable, controllerTable, CREDENTIAL_STATUS_WORDS, pinTable, scheduleWords, when } from './format.js';
import { print, resolveLocation, withClient, type GlobalOpts } from './shared.js';

/** What local changes wait for; printed whenever a change is made with no server. */
export const LOCAL_NOTE = 'queued; applied when the server runs (no server owns this data folder, so nothing reaches the lock yet)';

/** Prints a change's outcome: text for people, or JSON (the local note then goes to stderr). */
function report(client: LockwardenClient, g: GlobalOpts, json: unknown, text: string, serverNote: string): void {
  if (g.json) {
    print(JSON.stringify(json, null, 2));
    if (client.local) process.stderr.write(`lockwarden: ${LOCAL_NOTE}\n`);
    return;
  }
  print(text);
  print(client.local ? LOCAL_NOTE : serverNote);
}

function pinLabel(c: Credential): string {
  return `${c.kind === 'controller' ? `controller ${c.controllerId ?? ''}` : `PIN of ${c.holder}`}${c.slot !== null ? ` in slot ${c.slot}` : ''} (${c.id})`;
}

/** The schedule flags, added to a command. */
function scheduleOptions(cmd: Command, withAlways: boolean): Command {
  cmd
    .option('--from <iso>', 'works from this time (ISO with offset, e.g. 2026-06-01T15:00:00+02:00); needs --until')
    .option('--until <iso>', 'works until this time; needs --from')
    .option('--days <days>', 'recurring on these days: mon,wed,fri, mon-fri, weekdays, weekend, daily; needs --start and --end')
    .option('--start <HH:MM>', 'recurring: from this time of day (lock-local, 24-hour)')
    .option('--end <HH:MM>', 'recurring: until this time of day, after --start');
  if (withAlways) cmd.option('--always', 'works at all times (drops any schedule)');
  return cmd;
}

/** `pins ...` and `controllers ...`. */
export function addCredentialCommands(program: Command): void {
  const pins = program.command('pins').description('PIN codes on locks (codes are shown once when added, then only on reveal)');

  pins
    .command('list')
    .description("a lock's PIN slots: holder, schedule, status and whether the lock agrees")
    .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
    .action(async (lockId: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const view = await client.lockCredentials(lockId);
        if (g.json) return print(JSON.stringify(view, null, 2));
        const lock = await client.getLock(lockId);
        const obs = view.observation;
        print(`${lock.name} (${lock.id}), driver ${view.driver}, ${view.capabilities.pin.slots} PIN slot(s) of ${view.capabilities.pin.minLength}-${view.capabilities.pin.maxLength} digits`);
        print(`last read: ${when(obs?.readAt)}${obs?.inDoubt ? ' (in doubt: a write may not have landed)' : ''}${obs?.lastError ? `; last error: ${obs.lastError}` : ''}`);
        print('');
        print(view.slots.length ? pinTable(view) : 'no PINs on this lock');
        if (view.drift > 0) print(`\n${view.drift} slot(s) differ from the lock${client.local ? '' : '; the server is reconciling them'}`);
        if (view.controllers.length) print(`\nControllers:\n${controllerTable(view)}`);
        if (client.local) print('\nno server owns this data folder: statuses are as recorded; changes are applied when the server runs');
      }),
    );

  scheduleOptions(
    pins
      .command('add')
      .description('add a PIN for a person; prints the new code once')
      .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
      .requiredOption('--holder <name>', 'who the PIN is for')
      .option('--code <digits>', 'the PIN to set (default: a strong one is generated)')
      .option('--length <n>', 'length of a generated PIN', intArg('--length', 4, 16))
      .option('--slot <n>', 'slot to use (default: the first free one)', intArg('--slot', 1)),
    false,
  ).action(async (lockId: string, f: PinAddFlags, cmd: Command) => {
    const input = pinCreateFromFlags(f);
    await withClient(cmd, async (client, g) => {
      const { credential: c, code } = await namingFlags(client.addPin(lockId, input));
      report(
        client,
        g,
        { credential: c, code },
        [
          `PIN for ${c.holder}: ${code}`,
          `slot ${c.slot} of lock ${c.lockId}, ${scheduleWords(c.schedule)}; credential ${c.id} (version ${c.version})`,
          `The code is shown this once; later only with: lockwarden pins reveal ${c.id} --reason "..."`,
        ].join('\n'),
        `pending: the server is writing it to the lock; see lockwarden pins list ${c.lockId}`,
      );
    });
  });

  scheduleOptions(
    pins
      .command('edit')
      .description("change a PIN's holder, code or schedule")
      .addArgument(new Argument('<credentialId>', 'the PIN (see pins list)').argParser(idArg('credential')))
      .requiredOption('--version <n>', 'the version you saw (pins list); a PIN changed since is refused', intArg('--version', 1))
      .option('--holder <name>', 'new holder name')
      .option('--code <digits>', 'new PIN'),
    true,
  ).action(async (credentialId: string, f: PinEditFlags, cmd: Command) => {
    const input = pinUpdateFromFlags(f);
    await withClient(cmd, async (client, g) => {
      const c = await namingFlags(client.updatePin(credentialId, input));
      report(client, g, c, `updated ${pinLabel(c)}: ${scheduleWords(c.schedule)}, now version ${c.version}, ${CREDENTIAL_STATUS_WORDS[c.status]}`, 'the server writes the change to the lock');
    });
  });

  pins
    .command('revoke')
    .description('revoke a PIN: it is taken off the lock')
    .addArgument(new Argument('<credentialId>', 'the PIN (see pins list)').argParser(idArg('credential')))
    .action(async (credentialId: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const c = await client.revokeCredential(credentialId);
        report(client, g, c, `revoking ${pinLabel(c)}`, 'the server takes it off the lock; see pins list until the slot is gone');
      }),
    );

  pins
    .command('retry')
    .description('try a failed PIN again from zero attempts')
    .addArgument(new Argument('<credentialId>', 'the PIN (see pins list)').argParser(idArg('credential')))
    .action(async (credentialId: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const c = await client.retryCredential(credentialId);
        report(client, g, c, `retrying ${pinLabel(c)}`, 'the server tries the lock again');
      }),
    );

  pins
    .command('reveal')
    .description("show a PIN's code (say why; the request is checked against your role)")
    .addArgument(new Argument('<credentialId>', 'the PIN (see pins list)').argParser(idArg('credential')))
    .requiredOption('--reason <text>', 'why you need to see the code')
    .action(async (credentialId: string, f: { reason: string }, cmd: Command) => {
      const { reason } = revealFromFlags(f);
      await withClient(cmd, async (client, g) => {
        const { code } = await client.revealPin(credentialId, reason);
        print(g.json ? JSON.stringify({ code }) : code);
      });
    });

  pins
    .command('adopt')
    .description('take a code found on the lock (unmanaged) under management, for a named holder')
    .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
    .requiredOption('--slot <n>', 'the slot the lock reported it in', intArg('--slot', 1))
    .requiredOption('--holder <name>', 'who the code belongs to')
    .action(async (lockId: string, f: { slot: number; holder: string }, cmd: Command) => {
      const holder = f.holder.trim();
      if (!holder) throw flagError('--holder', 'name the person the PIN is for');
      await withClient(cmd, async (client, g) => {
        const c = await namingFlags(client.adoptPin(lockId, { slot: f.slot, holder }));
        report(client, g, c, `adopted the code in slot ${f.slot} as the ${pinLabel(c)}`, 'lockwarden now keeps it on the lock');
      });
    });

  pins
    .command('remove-unmanaged')
    .description('take a code found on the lock (unmanaged) off it')
    .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
    .requiredOption('--slot <n>', 'the slot the lock reported it in', intArg('--slot', 1))
    .action(async (lockId: string, f: { slot: number }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const c = await namingFlags(client.removeUnmanaged(lockId, { slot: f.slot }));
        report(client, g, c, `removing the unmanaged code in slot ${f.slot} (${c.id})`, 'the server takes it off the lock');
      }),
    );

  const controllers = program.command('controllers').description('controllers paired with locks (hubs, phones, Matter fabrics)');
  controllers
    .command('list')
    .description('controllers the lock reported at its last read')
    .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
    .action(async (lockId: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const view = await client.lockCredentials(lockId);
        if (g.json) return print(JSON.stringify(view.controllers, null, 2));
        print(view.controllers.length ? controllerTable(view) : view.observation?.readAt ? 'the lock reported no controllers' : 'the lock has not been read yet');
      }),
    );
  controllers
    .command('remove')
    .description('unpair a controller from the lock (lockwarden itself stays)')
    .addArgument(new Argument('<lockId>', 'the lock').argParser(idArg('lock')))
    .argument('<controllerId>', 'the controller id (see controllers list)')
    .action(async (lockId: string, controllerId: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const c = await client.removeController(lockId, controllerId);
        report(client, g, c, `removing controller ${controllerId} (${c.holder}) from lock ${lockId}: ${CREDENTIAL_STATUS_WORDS[c.status]}`, 'the server unpairs it on the lock');
      }),
    );
}

/** `locks lock|unlock|refresh <id>`, added to the `locks` command. */
export function addLockOperations(locks: Command): void {
  for (const action of ['lock', 'unlock'] as const) {
    locks
      .command(action)
      .description(`${action} the lock remotely, where its model allows (needs the server)`)
      .addArgument(new Argument('<id>', 'the lock').argParser(idArg('lock')))
      .action(async (id: string, _f: unknown, cmd: Command) =>
        withClient(cmd, async (client, g) => {
          const { bolt } = await client.operateLock(id, action);
          print(g.json ? JSON.stringify({ bolt }) : `${action === 'lock' ? 'locked' : 'unlocked'} ${id}: the bolt is ${bolt}`);
        }),
      );
  }
  locks
    .command('refresh')
    .description('read the lock now: its codes, controllers and status (drift check)')
    .addArgument(new Argument('<id>', 'the lock').argParser(idArg('lock')))
    .action(async (id: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        await client.refreshLock(id);
        if (g.json) return print(JSON.stringify({ queued: !client.local }));
        print(
          client.local
            ? 'no server owns this data folder, so nothing can read the lock now; the server reads locks when it runs (at start, every lock not read recently)'
            : `read of ${id} queued; see lockwarden pins list ${id} in a moment`,
        );
      }),
    );
}

interface WaitFlags {
  wait?: boolean;
  timeout?: number;
}

async function followBulk(client: LockwardenClient, g: GlobalOpts, view: BulkView, f: WaitFlags): Promise<void> {
  const final = f.wait ? await waitForBulk(client, view, f.timeout === undefined ? {} : { timeoutMs: f.timeout * 1000 }) : view;
  if (g.json) {
    print(JSON.stringify(final, null, 2));
    if (client.local) process.stderr.write(`lockwarden: ${LOCAL_NOTE}\n`);
    return;
  }
  print(bulkSummary(final, await lockNames(client, final.failures.map((x) => x.lockId))));
  if (client.local) print(LOCAL_NOTE);
  else if (!final.finished) print(`follow it with: lockwarden bulk status ${final.id} --wait`);
}

/** Names of the locks with these ids, for messages; a lock that cannot be read is left out. */
async function lockNames(client: LockwardenClient, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)].slice(0, 100);
  const found = await Promise.allSettled(unique.map((id) => client.getLock(id)));
  return new Map(found.flatMap((r) => (r.status === 'fulfilled' ? [[r.value.id, r.value.name] as [string, string]] : [])));
}

function refuseLocalWait(client: LockwardenClient, f: WaitFlags): void {
  if (f.wait && client.local) {
    throw flagError('--wait', 'no server owns this data folder, so nothing applies the change while you wait; start `lockwarden serve` and pass --token, or leave out --wait');
  }
}

function waitOptions(cmd: Command): Command {
  return cmd
    .option('--wait', 'follow the change until it has finished (a progress bar on a terminal)')
    .addOption(new Option('--timeout <seconds>', 'with --wait: stop waiting after this long (exit 6; the change goes on)').argParser(intArg('--timeout', 1)));
}

/** `bulk add|status|list`. */
export function addBulkCommands(program: Command): void {
  const bulk = program.command('bulk').description('change PINs on many locks at once (turnovers)');

  waitOptions(
    scheduleOptions(
      bulk
        .command('add')
        .description('add a PIN for a person on every lock of a location (or listed locks), optionally revoking others first')
        .option('--location <location>', 'every lock under this location (id or path, e.g. "Harbour View Apartments/Building A/Floor 1/Unit A101")')
        .option('--locks <ids>', 'these locks (comma-separated ids)')
        .option('--holder <name>', 'who the new PIN is for (repeat for several people)', (v: string, prev: string[] = []) => [...prev, v])
        .option('--code <digits>', 'one PIN for every lock (default: a strong one generated per lock)')
        .option('--length <n>', 'length of generated PINs', intArg('--length', 4, 16))
        .option('--revoke-holders <names>', "revoke these people's PINs (comma-separated) on the same locks")
        .option('--revoke-all', 'revoke every PIN lockwarden manages on the same locks')
        .option('--description <text>', 'what this change is (default: described from the flags)'),
      false,
    ),
  ).action(async (f: BulkAddFlags & WaitFlags, cmd: Command) => {
    // Everything the flags alone can tell is checked before connecting; the location is resolved after.
    bulkFromFlags(f);
    await withClient(cmd, async (client, g) => {
      refuseLocalWait(client, f);
      const input = bulkFromFlags(f, f.location === undefined ? undefined : await namingFlags(resolveLocation(client, f.location)));
      const view = await namingFlags(client.bulkChange(input));
      if (!g.json) {
        print(`started bulk ${view.id}: ${view.description} (${view.total} change(s))`);
        if (input.add.length && input.add.every((a) => a.code === undefined)) {
          print('new codes are generated per lock and not printed; see one with: lockwarden pins reveal <credentialId> --reason "..."');
        }
      }
      await followBulk(client, g, view, f);
    });
  });

  waitOptions(
    bulk
      .command('status')
      .description('how far a bulk change has got, and its failures')
      .addArgument(new Argument('<id>', 'the bulk change').argParser(idArg('bulk change'))),
  ).action(async (id: string, f: WaitFlags, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      refuseLocalWait(client, f);
      await followBulk(client, g, await client.bulk(id), f);
    }),
  );

  bulk
    .command('list')
    .description('recent bulk changes, newest first')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const items = await client.bulks();
        print(g.json ? JSON.stringify(items, null, 2) : items.length ? bulkTable(items) : 'no bulk changes yet');
      }),
    );
}
