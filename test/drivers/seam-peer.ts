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
    close: () =>
      new Promise<void>((resolve) => {
        server.server.closeAllConnections?.();
        server.server.close(() => resolve());
      }),
  };
}
