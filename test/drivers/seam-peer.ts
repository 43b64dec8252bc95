/**
 * Seam's own fake (`@seamapi/fake-seam-connect`) started in this process on 127.0.0.1 and a free
 * port, seeded with its default workspace plus locks of more brands, and the failures it can force
 * (a workspace outage on chosen routes, an offline device).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFake } from '@seamapi/fake-seam-connect';

/** Seam devices the tests use (ids as the fake knows them). */
export const SEAM_DEVICES = { august: 'august_device_1', august2: 'august_device_2', schlage: 'schlage_device_id', yale: 'seam_yale_1', kwikset: 'seam_kwikset_1', offline: 'seam_yale_offline' } as const;

/**
 * Seam devices of other brands and shapes (issue 23), put in by `addShapes`, with the device
 * properties Seam's own types describe for them (`@seamapi/types`: `code_constraints`,
 * `supported_code_lengths`, `max_active_codes_supported`, the `can_*` flags). The numbers are
 * chosen, the fields and constraint names are Seam's.
 */
export const SEAM_SHAPES = {
  /** Nuki: 6 digits, no 0, not starting with 12, names up to 20 characters. */
  nuki: 'shape_nuki',
  /** Schlage: 4 or 6 digits, nothing in between. */
  schlage46: 'shape_schlage_4_or_6',
  /** igloohome: no connection, offline (algorithmic, time-bound) codes only; says nothing of its lengths or capacity. */
  igloohome: 'shape_igloohome_offline',
  /** TTLock: a keypad without 0, 8 and 9. */
  ttlock: 'shape_ttlock',
  /** Kwikset: names up to 14 characters, 10 codes. */
  kwikset: 'shape_kwikset',
  /** A lock Seam can lock but not unlock, and that takes codes. */
  lockOnly: 'shape_lock_only',
  /** A lock that takes no codes through Seam (it can be locked and unlocked). */
  noCodes: 'shape_no_codes',
} as const;

/** A lock to put into the fake's workspace. */
export interface SeamLockFixture {
  deviceId: string;
  name: string;
  manufacturer: string;
  model: string;
  /** The connected account's provider (a Seam provider name, "yale"). */
  provider: string;
  /** The connected account; a new one of `provider` is made when it does not exist. */
  account: string;
  serial?: string;
}

/** A running fake Seam. */
export interface FakeSeam {
  url: string;
  /** The fake's HTTP server (to watch the requests it receives). */
  server: http.Server;
  /** lockwarden's API key (workspace 1). */
  apiKey: string;
  /** Another client's API key on the same workspace (an app that is not lockwarden). */
  otherApiKey: string;
  workspaceId: string;
  /** The fake's database (zustand store with its methods on the state). */
  db: FakeDb;
  /** Makes the next request to one of `routes` answer 503, then recovers. */
  outageOnce(routes: string[]): void;
  /**
   * Adds a lock to the workspace the way the fake's own seeding does (on its own connected account
   * of `provider` when `account` is new, else on `account`).
   */
  addLock(lock: SeamLockFixture): void;
  /**
   * What Seam does when a lock is factory reset at the door: the maker's account no longer lists
   * it, so Seam drops the device (and its codes) from the workspace.
   */
  lockLeaves(deviceId: string): void;
  /**
   * What the owner's reconnect does: signs in through the Connect Webview (`url`, when lockwarden
   * made one), which authorizes a new connected account, and Seam lists the lock again as a new
   * device. Played through the fake's database as its seeding plays a completed webview.
   */
  ownerReconnects(url: string | null, lock: SeamLockFixture): void;
  /** Adds the `SEAM_SHAPES` devices to the workspace. */
  addShapes(): void;
  /**
   * Seam's offline access codes, which the fake lacks (it ignores `is_offline_access_code` and makes
   * an ordinary code): a loopback proxy in front of the fake that, when a create asks for an
   * offline code on a device that can program them, marks the code the fake made as offline, as
   * Seam reports one. Returns the proxy's URL (closed with the fake).
   */
  withOfflineCodes(): Promise<string>;
  /** POSTs to the fake as another Seam client would. */
  post(path: string, body: unknown, apiKey?: string): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

interface FakeDbState {
  addDevice(params: Record<string, unknown>): { device_id: string };
  addApiKey(params: { workspace_id: string; token?: string; name?: string }): unknown;
  addEvent(params: Record<string, unknown>): unknown;
  simulateWorkspaceOutage(workspaceId: string, ctx: { routes: string[] }): void;
  simulateWorkspaceOutageRecovery(workspaceId: string): void;
  access_codes: { access_code_id: string; device_id: string; code: string; name: string; status: string; is_managed: boolean }[];
  addConnectedAccount(params: { provider: string; workspace_id: string; connected_account_id?: string; user_identifier?: { email?: string } }): { connected_account_id: string };
  deleteDevice(deviceId: string): void;
  deleteAccessCode(accessCodeId: string): void;
  updateConnectWebview(params: { connect_webview_id: string; [key: string]: unknown }): void;
  devices: { device_id: string; connected_account_id?: string; device_type: string; workspace_id: string }[];
  connected_accounts: { connected_account_id: string; provider: string; workspace_id: string }[];
  connect_webviews: { connect_webview_id: string; url: string; status: string; accepted_providers?: string[]; connected_account_id: string | null }[];
}
/** The fake's database (a zustand store): its seeding methods and tables, as far as tests use them. */
export type FakeDb = { getState(): FakeDbState };

/** Starts the fake bound to 127.0.0.1 on a port the system chose. */
export async function startFakeSeam(): Promise<FakeSeam> {
  const fake = await createFake();
  const seed = await fake.seed();
  const db = fake.database as unknown as FakeDb;
  const state = () => db.getState();
  const workspaceId = seed.seed_workspace_1;
  const account = seed.john_connected_account_id;
  const lock = (device_id: string, name: string, manufacturer: string, model: string, extra: Record<string, unknown> = {}, deviceType = `${manufacturer}_lock`) =>
    state().addDevice({
      device_id,
      device_type: deviceType,
      name,
      workspace_id: workspaceId,
      connected_account_id: account,
      can_program_online_access_codes: true,
      can_remotely_lock: true,
      can_remotely_unlock: true,
      properties: { name, online: true, locked: true, battery_level: 0.76, manufacturer, model: { display_name: model, manufacturer_display_name: manufacturer[0]!.toUpperCase() + manufacturer.slice(1) }, supported_code_lengths: [4, 5, 6, 7, 8], max_active_codes_supported: 30, ...extra },
    });
  const shape = (device_id: string, deviceType: string, manufacturer: string, name: string, flags: Record<string, boolean>, properties: Record<string, unknown>) => {
    addShapeDevice(device_id, deviceType, manufacturer, name, flags, properties);
    // The fake's addDevice keeps only some `can_*` flags: the offline one is put on afterwards.
    (state() as unknown as { updateDevice(p: Record<string, unknown>): void }).updateDevice({ device_id, can_program_offline_access_codes: flags.can_program_offline_access_codes === true });
  };
  const addShapeDevice = (device_id: string, deviceType: string, manufacturer: string, name: string, flags: Record<string, boolean>, properties: Record<string, unknown>) =>
    state().addDevice({
      device_id,
      device_type: deviceType,
      name,
      workspace_id: workspaceId,
      connected_account_id: account,
      can_program_online_access_codes: true,
      can_program_offline_access_codes: false,
      can_remotely_lock: true,
      can_remotely_unlock: true,
      ...flags,
      properties: { name, online: true, locked: true, battery_level: 0.8, manufacturer, model: { display_name: name, manufacturer_display_name: manufacturer }, ...properties },
    });
  // The fake's /locks/list shows only August, Schlage, Yale and SmartThings device types: the other
  // brands come as SmartThings devices (their maker is in `properties.manufacturer`), so they can be adopted.
  const addShapes = () => {
    shape(SEAM_SHAPES.nuki, 'smartthings_lock', 'nuki', 'Nuki Smart Lock 3.0', {}, {
      supported_code_lengths: [6],
      max_active_codes_supported: 100,
      code_constraints: [{ constraint_type: 'no_zeros' }, { constraint_type: 'cannot_start_with_12' }, { constraint_type: 'name_length', max_length: 20 }],
    });
    shape(SEAM_SHAPES.schlage46, 'schlage_lock', 'schlage', 'Schlage Encode', {}, { supported_code_lengths: [4, 6], max_active_codes_supported: 20 });
    shape(SEAM_SHAPES.igloohome, 'smartthings_lock', 'igloohome', 'igloohome Deadbolt 2S', { can_program_online_access_codes: false, can_program_offline_access_codes: true, can_remotely_lock: false, can_remotely_unlock: false }, { online: false });
    shape(SEAM_SHAPES.ttlock, 'smartthings_lock', 'ttlock', 'TTLock keypad', {}, { supported_code_lengths: [4, 5, 6, 7, 8, 9], max_active_codes_supported: 150, code_constraints: [{ constraint_type: 'cannot_contain_089' }] });
    shape(SEAM_SHAPES.kwikset, 'smartthings_lock', 'kwikset', 'Kwikset Halo', {}, { supported_code_lengths: [4, 5, 6, 7, 8], max_active_codes_supported: 10, code_constraints: [{ constraint_type: 'name_length', max_length: 14 }] });
    shape(SEAM_SHAPES.lockOnly, 'yale_lock', 'yale', 'Yale lock-only', { can_remotely_unlock: false }, { supported_code_lengths: [4, 5, 6], max_active_codes_supported: 25 });
    shape(SEAM_SHAPES.noCodes, 'august_lock', 'august', 'August without keypad', { can_program_online_access_codes: false }, {});
  };
  const closers: (() => Promise<void>)[] = [];
  const withOfflineCodes = async (): Promise<string> => {
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        let asked: { device_id?: unknown; is_offline_access_code?: unknown } = {};
        try {
          asked = JSON.parse(body.toString('utf8') || '{}') as typeof asked;
        } catch {
          asked = {};
        }
        const up = http.request(`${url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
          const out: Buffer[] = [];
          r.on('data', (c: Buffer) => out.push(c));
          r.on('end', () => {
            let text = Buffer.concat(out).toString('utf8');
            const device = state().devices.find((d) => d.device_id === asked.device_id) as { can_program_offline_access_codes?: boolean } | undefined;
            if (req.url?.split('?')[0] === '/access_codes/create' && r.statusCode === 200 && asked.is_offline_access_code === true && device?.can_program_offline_access_codes === true) {
              const made = (JSON.parse(text) as { access_code: { access_code_id: string } }).access_code;
              const updated = (state() as unknown as { updateAccessCode(p: Record<string, unknown>): unknown }).updateAccessCode({ access_code_id: made.access_code_id, is_offline_access_code: true });
              text = JSON.stringify({ access_code: updated });
            }
            const headers = { ...r.headers, 'content-length': String(Buffer.byteLength(text)) };
            delete headers['transfer-encoding'];
            res.writeHead(r.statusCode ?? 502, headers);
            res.end(text);
          });
        });
        up.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => proxy.close(() => r())));
    return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  };
  const addLock = (f: SeamLockFixture) => {
    if (!state().connected_accounts.some((a) => a.connected_account_id === f.account)) {
      state().addConnectedAccount({ provider: f.provider, workspace_id: workspaceId, connected_account_id: f.account, user_identifier: { email: `owner@${f.provider}.example` } });
    }
    state().addDevice({
      device_id: f.deviceId,
      device_type: `${f.manufacturer}_lock`,
      name: f.name,
      workspace_id: workspaceId,
      connected_account_id: f.account,
      can_program_online_access_codes: true,
      can_remotely_lock: true,
      can_remotely_unlock: true,
      properties: { name: f.name, online: true, locked: true, battery_level: 0.9, manufacturer: f.manufacturer, model: { display_name: f.model, manufacturer_display_name: f.manufacturer[0]!.toUpperCase() + f.manufacturer.slice(1) }, supported_code_lengths: [4, 5, 6, 7, 8], max_active_codes_supported: 30, ...(f.serial ? { serial_number: f.serial } : {}) },
    });
  };
  lock(SEAM_DEVICES.yale, 'Yale back door', 'yale', 'Assure Lock 2');
  // The fake lists only August, Schlage, Yale and SmartThings locks: a Kwikset behind SmartThings.
  lock(SEAM_DEVICES.kwikset, 'Kwikset garage', 'kwikset', 'SmartCode 916', {}, 'smartthings_lock');
  lock(SEAM_DEVICES.offline, 'Yale shed (offline)', 'yale', 'Assure Lock SL', { online: false });
  const otherApiKey = 'seam_other_app_token';
  state().addApiKey({ workspace_id: workspaceId, token: otherApiKey, name: 'another app' });

  // The fake listens on all interfaces and ignores port 0 in its URL: bind it ourselves, to loopback.
  const proto = http.Server.prototype as unknown as { listen: (this: http.Server, ...args: unknown[]) => http.Server };
  const listen = proto.listen;
  proto.listen = function (this: http.Server, port: unknown, cb: unknown) {
    return listen.call(this, port, '127.0.0.1', cb);
  };
  let server;
  try {
    server = await fake.startServer({ port: 0 });
  } finally {
    proto.listen = listen;
  }
  const port = (server.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  let outagePending = false;
  server.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.on('finish', () => {
      if (outagePending && res.statusCode === 503) {
        outagePending = false;
        state().simulateWorkspaceOutageRecovery(workspaceId);
      }
    });
  });

  return {
    url,
    server: server.server,
    apiKey: seed.seam_apikey1_token,
    otherApiKey,
    workspaceId,
    db,
    addLock,
    addShapes,
    withOfflineCodes,
    lockLeaves(deviceId) {
      for (const c of state().access_codes.filter((x) => x.device_id === deviceId)) state().deleteAccessCode(c.access_code_id);
      state().deleteDevice(deviceId);
    },
    ownerReconnects(webviewUrl, f) {
      addLock(f);
      const id = webviewUrl ? new URL(webviewUrl).searchParams.get('connect_webview_id') : null;
      if (id) state().updateConnectWebview({ connect_webview_id: id, connected_account_id: f.account, status: 'authorized', login_successful: true });
    },
    outageOnce(routes) {
      outagePending = true;
      state().simulateWorkspaceOutage(workspaceId, { routes });
    },
    async post(path, body, apiKey = otherApiKey) {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
    },
    close: async () => {
      for (const c of closers) await c();
      await new Promise<void>((resolve) => {
        server.server.closeAllConnections?.();
        server.server.close(() => resolve());
      });
    },
  };
}
