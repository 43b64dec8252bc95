/**
 * The `lockwarden` command. Output is for people by default and JSON with --json; exit codes say
 * what went wrong (see EXIT_CODES) so scripts can branch without parsing messages.
 */
import { Command, CommanderError, Help, InvalidArgumentError, Option } from 'commander';
import { VERSION, dataDirFrom, serveConfig } from '../config.js';
import { AppError, isAppError } from '../domain/errors.js';
import { LOCK_FAMILIES } from '../domain/lock-models.js';
import { SERVICE_STATES } from '../domain/locks.js';
import { HTTP_STATUS } from '../server/errors.js';
import { LocalClient, type LockwardenClient } from './client.js';
import { addBulkCommands, addCredentialCommands, addLockOperations } from './credential-commands.js';
import { lockDetail, lockTable, modelTable, tree } from './format.js';
import { addSimCommand } from './sim-command.js';
import { addHandbookCommands } from './handbook-commands.js';
import { addSheetCommands } from './sheet-commands.js';
import { addAuditCommands } from './audit-commands.js';
import { addBackupCommands } from './backup-commands.js';
import { print, resolveLocation, withClient, type GlobalOpts } from './shared.js';

/** Exit codes by HTTP class of the error: usage 2, auth 4, not found 3, conflict 5, unavailable 6. */
export function exitCodeFor(e: unknown): number {
  if (!isAppError(e)) return 1;
  const status = HTTP_STATUS[e.code] ?? 500;
  if (status === 400) return 2;
  if (status === 401 || status === 403 || status === 429) return 4;
  if (status === 404) return 3;
  if (status === 409) return 5;
  if (status === 503) return 6;
  return 1;
}

function csvOf(values: readonly string[], what: string) {
  return (raw: string) => {
    const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = list.filter((v) => !values.includes(v));
    if (bad.length) throw new InvalidArgumentError(`unknown ${what} ${bad.join(', ')}; use ${values.join(', ')}`);
    return list;
  };
}

/** Resolves a model given as an id, a model number, or "Manufacturer ModelNumber". */
async function resolveModel(client: LockwardenClient, ref: string): Promise<string> {
  const models = await client.listModels();
  const wanted = ref.toLowerCase();
  const found = models.filter((m) => m.id === ref || m.modelNumber.toLowerCase() === wanted || `${m.manufacturer} ${m.modelNumber}`.toLowerCase() === wanted);
  if (found.length === 1) return found[0]!.id;
  throw new AppError(found.length ? 'validation.failed' : 'model.not_found', found.length ? `model "${ref}" is ambiguous; use its id` : `no model "${ref}"; see \`lockwarden models list\``, [
    { path: 'model', message: found.length ? 'ambiguous' : 'not found' },
  ]);
}

/** Builds the command tree (exported so tests can drive it in-process). */
export function buildProgram(): Command {
  const program = new Command('lockwarden')
    .description('Smart lock inventory, reset handbook and controlled factory resets')
    // -V/--version is answered in main() rather than by commander's .version(): commander would take
    // --version anywhere on the line for itself, and `pins edit --version N` needs it.
    .configureHelp({
      visibleOptions(cmd) {
        const base = new Help().visibleOptions(cmd);
        return cmd.parent ? base : [new Option('-V, --version', 'output the version number'), ...base];
      },
    })
    .option('--json', 'print JSON for scripts')
    .option('--data <dir>', 'data folder (default ./data, or LOCKWARDEN_DATA)')
    .option('--url <url>', 'talk to the server at this URL (or LOCKWARDEN_URL)')
    .option('--token <token>', 'API token for the server (or LOCKWARDEN_TOKEN)')
    .showHelpAfterError()
    // Usage errors throw instead of exiting, so they get exit code 2 like other bad input.
    .exitOverride();

  program
    .command('serve')
    .description('run the server and web UI')
    .option('-p, --port <port>', 'port to listen on (or PORT; default 8080; 0 picks a free one)')
    .option('--host <host>', 'address to listen on (or HOST; default 127.0.0.1)')
    .option('--no-demo', 'do not load the demo fleet on a first start')
    .option('--role <role>', 'api (HTTP and UI), worker (jobs, no HTTP) or all (or LOCKWARDEN_ROLE; default all); api and worker need DATABASE_URL')
    .action(async (flags: { port?: string; host?: string; demo: boolean; role?: string }, cmd: Command) => {
      const cfg = serveConfig({ ...flags, data: cmd.optsWithGlobals<GlobalOpts>().data });
      const { startServer, startWorker } = await import('../server/serve.js');
      const server = cfg.role === 'worker' ? await startWorker(cfg) : await startServer(cfg);
      const shutdown = () => {
        void server.stop().then(() => process.exit(0));
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });

  const locks = program.command('locks').description('the lock inventory');
  locks
    .command('list')
    .description('list locks, filtered')
    .option('--site <id>', 'only locks under this site (id)')
    .option('--location <id>', 'only locks under this location (id)')
    .option('--model <model>', 'only this model (id or model number)')
    .addOption(new Option('--family <families>', `comma list of ${LOCK_FAMILIES.join(', ')}`).argParser(csvOf(LOCK_FAMILIES, 'family')))
    .addOption(new Option('--state <states>', `comma list of ${SERVICE_STATES.join(', ')}`).argParser(csvOf(SERVICE_STATES, 'state')))
    .option('-q, --search <text>', 'match name, serial, model or external id')
    .option('--all', 'include retired locks')
    .option('--limit <n>', 'page size (max 500)', '50')
    .option('--offset <n>', 'skip this many', '0')
    .action(async (f: { site?: string; location?: string; model?: string; family?: string[]; state?: string[]; search?: string; all?: boolean; limit: string; offset: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const page = await client.listLocks({
          siteId: f.site,
          locationId: f.location,
          modelId: f.model ? await resolveModel(client, f.model) : undefined,
          family: f.family,
          state: f.state,
          q: f.search,
          includeRetired: f.all ? true : undefined,
          limit: f.limit,
          offset: f.offset,
        });
        if (g.json) return print(JSON.stringify(page, null, 2));
        print(lockTable(page.items));
        print(`\n${page.items.length} of ${page.total} lock(s)${page.total > page.offset + page.items.length ? ` — more with --offset ${page.offset + page.items.length}` : ''}`);
      }),
    );
  locks
    .command('show <id>')
    .description("show one lock's details")
    .action(async (id: string, _f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const lock = await client.getLock(id);
        print(g.json ? JSON.stringify(lock, null, 2) : lockDetail(lock));
      }),
    );
  locks
    .command('add')
    .description('add a lock to the inventory')
    .requiredOption('--name <name>', 'what people call it ("Unit 4 front door")')
    .requiredOption('--model <model>', 'model id, model number or "Manufacturer ModelNumber"')
    .requiredOption('--location <location>', 'location id or path ("Harbour View Apartments/Building A/Floor 1/Unit A101/Front door")')
    .option('--serial <serial>')
    .option('--firmware <version>')
    .option('--installed-on <date>', 'YYYY-MM-DD')
    .option('--driver <driver>', 'simulator, zwave, matter, zigbee2mqtt, seam or none', 'simulator')
    .option('--external-id <id>', "the driver's id for the lock")
    .option('--battery <percent>', 'battery level 0-100')
    .option('--notes <text>')
    .action(async (f: { name: string; model: string; location: string; serial?: string; firmware?: string; installedOn?: string; driver: string; externalId?: string; battery?: string; notes?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const lock = await client.createLock({
          name: f.name,
          modelId: await resolveModel(client, f.model),
          locationId: await resolveLocation(client, f.location),
          serial: f.serial,
          firmware: f.firmware,
          installedOn: f.installedOn,
          driver: f.driver,
          externalId: f.externalId,
          batteryPercent: f.battery === undefined ? undefined : Number(f.battery),
          notes: f.notes,
        });
        print(g.json ? JSON.stringify(lock, null, 2) : `added ${lock.name} (${lock.id})`);
      }),
    );
  locks
    .command('retire <id>')
    .description('retire a lock (it stays in the history)')
    .requiredOption('--reason <text>', 'why it is retired')
    .action(async (id: string, f: { reason: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const lock = await client.retireLock(id, f.reason);
        print(g.json ? JSON.stringify(lock, null, 2) : `retired ${lock.name} (${lock.id})`);
      }),
    );

  addLockOperations(locks);
  addCredentialCommands(program);
  addBulkCommands(program);
  addHandbookCommands(program);
  addSheetCommands(program);
  addAuditCommands(program);
  addBackupCommands(program);

  program
    .command('models')
    .description('the model catalogue')
    .command('list')
    .description('list lock models')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const models = await client.listModels();
        print(g.json ? JSON.stringify(models, null, 2) : modelTable(models));
      }),
    );

  program
    .command('locations')
    .description('the location tree')
    .command('tree')
    .description('print the location tree')
    .action(async (_f: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const roots = await client.locationTree();
        print(g.json ? JSON.stringify(roots, null, 2) : tree(roots));
      }),
    );

  const local = async (cmd: Command, fn: (c: LocalClient, g: GlobalOpts) => Promise<void>) => {
    const g = cmd.optsWithGlobals<GlobalOpts>();
    const client = await LocalClient.open(dataDirFrom(g.data), process.env.DATABASE_URL || undefined);
    try {
      await fn(client, g);
    } finally {
      await client.close();
    }
  };
  program
    .command('tokens')
    .description('API tokens (on the data folder, with the server stopped)')
    .command('create')
    .description('create an API token for an account')
    .requiredOption('--email <email>', 'the account the token acts as')
    .option('--name <name>', 'what the token is for', 'cli')
    .option('--days <n>', 'days until it expires', '90')
    .action(async (f: { email: string; name: string; days: string }, cmd: Command) =>
      local(cmd, async (c, g) => {
        const { token, secret } = await c.services.auth.createApiTokenFor(c.actor, f.email, { name: f.name, expiresInDays: Number(f.days) });
        print(g.json ? JSON.stringify({ token, secret }, null, 2) : `${secret}\n(token ${token.id}, expires ${token.expiresAt?.toISOString() ?? 'never'}; shown once)`);
      }),
    );
  program
    .command('users')
    .description('accounts (on the data folder, with the server stopped)')
    .command('one-time')
    .description('issue a one-time sign-in link for an account (forgotten password, locked account)')
    .requiredOption('--email <email>')
    .option('--base-url <url>', 'where the server will listen', 'http://127.0.0.1:8080')
    .action(async (f: { email: string; baseUrl: string }, cmd: Command) =>
      local(cmd, async (c, g) => {
        const token = await c.services.auth.issueOneTimeToken(c.actor, f.email);
        const link = `${f.baseUrl.replace(/\/$/, '')}/signin/one-time#${token}`;
        print(g.json ? JSON.stringify({ link }) : `Sign in once (24 h) with:\n  ${link}`);
      }),
    );
  addSimCommand(program);
  return program;
}

/** Runs the CLI with `argv`; errors become one line on stderr and an exit code. */
export async function main(argv = process.argv): Promise<void> {
  try {
    const program = buildProgram();
    const args = argv.slice(2);
    if (args.some((a) => a === '-V' || a === '--version') && !program.commands.some((c) => args.includes(c.name()))) {
      process.stdout.write(`${VERSION}\n`);
      return;
    }
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (or the help / version).
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    const json = argv.includes('--json');
    if (isAppError(e)) {
      if (json) process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, fields: e.fields } })}\n`);
      else {
        // Fields the message already states (flag errors name their flag) are not repeated.
        const more = e.fields.filter((f) => !e.message.includes(`${f.path}: ${f.message}`));
        process.stderr.write(`lockwarden: ${e.message}\n${more.map((f) => `  ${f.path}: ${f.message}\n`).join('')}`);
      }
    } else {
      process.stderr.write(`lockwarden: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    }
    process.exitCode = exitCodeFor(e);
  }
}
