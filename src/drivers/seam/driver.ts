/**
 * The `seam` driver: locks reached through Seam's cloud API (one workspace, one API key).
 *
 * Seam has no PIN slots. lockwarden's slot lives in the code's name (`[slot 3] Front desk`), so it
 * survives restarts and is visible in Seam's console. Codes without that tag (set at the keypad,
 * by another app, or "unmanaged" in Seam's words) are given the lowest free slots in creation
 * order, so a read is stable from one call to the next.
 *
 * Seam applies codes asynchronously: a code is `setting` until the lock confirmed it, then `set`;
 * a delete shows `removing`. A write resolves once Seam accepted it; a later read reports what
 * Seam then observes (`setting` and `set` both count as present, `removing` as gone). Nothing here
 * polls a code until it is `set` or retries a write: the reconciler reads again and decides.
 *
 * The official SDK (`@seamapi/http`) makes most calls. Code updates, deletes and the
 * unmanaged-to-managed conversion go over plain HTTP POST: SDK 2.x sends deletes as `DELETE` with a
 * body (which Seam's own fake does not read) and updates as `PATCH` (which the fake does not route),
 * while `POST` is what both the API and the fake accept.
 *
 * The API key is a secret: no log line and no error message carries it, nor a PIN, nor Seam's own
 * error text (which can echo the code).
 *
 * After a factory reset a lock drops out of its maker's account and Seam drops it from the
 * workspace. The driver remembers what each device it saw was, so `status` of such a lock reads
 * "reset, enroll it again" and `enroll` can recognise it when the owner reconnects the account
 * (through the Connect Webview `prepareEnrollment` makes) and Seam lists it as a new device.
 * `unbindCloud` removes a lock from the workspace (see there for why sometimes its account).
 */
import { SeamActionAttemptFailedError, SeamActionAttemptTimeoutError, SeamHttp, SeamHttpApiError } from '@seamapi/http/connect';
import { pinRuleBroken } from '../../domain/pin-rules.js';
import { DriverError, canOperateRemotely, type PinRule, type DeviceStatus, type DiscoveredDevice, type DriverCapabilities, type DriverEvent, type LockDriver, type ObservedCredentials, type ObservedPin, type PinWrite, type ObservedController, type EnrolledDevice, type EnrollmentMethod, type EnrollmentPreparation, type EnrollmentRequest } from '../contract.js';
import { SEAM_RATE_LIMITS, SeamRateLimiter, type SeamRateKind } from './rate-limit.js';
import { isSeamEvent, type SeamEvent } from './webhook.js';

/** Where lockwarden's own logs go (pino-compatible subset). */
export interface SeamDriverLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Plain configuration of one Seam connection. */
export interface SeamDriverConfig {
  /** Seam API key (secret). */
  apiKey: string;
  /** API base URL; Seam's production endpoint by default. */
  endpoint?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** How often `/events/list` is polled while someone listens (the fallback when webhooks are not wired). */
  pollIntervalMs?: number;
  /** How often a lock/unlock action attempt is polled until Seam reports its outcome. */
  actionAttemptPollMs?: number;
  /** Per-device, per-minute budgets; Seam's published limits by default. */
  rateLimits?: Partial<Record<SeamRateKind, number>>;
  /** Slots offered on a device that does not say how many codes it holds. */
  defaultSlots?: number;
  /** Commands in flight at once through this workspace. */
  hubConcurrency?: number;
  /** How often `enroll` lists the workspace while it waits for the reconnected lock. */
  enrollPollMs?: number;
  now?: () => number;
  logger?: SeamDriverLogger;
}

/** Seam's production API. */
export const SEAM_ENDPOINT = 'https://connect.getseam.com';

/** lockwarden's slot in a code's name: `[slot 3] `, or `#3 ` on a lock that keeps short names only. */
const SLOT_TAG = /^(?:\[slot (\d{1,4})\] ?|#(\d{1,4})(?: |$))/;

/** A Seam access code as far as this driver reads it. */
interface SeamAccessCode {
  access_code_id: string;
  device_id: string;
  name?: string | null;
  code?: string | null;
  status?: string;
  type?: string;
  starts_at?: string | null;
  ends_at?: string | null;
  is_managed?: boolean;
  /** An offline (algorithmic, time-bound) code: computed for the lock, not programmed into it. */
  is_offline_access_code?: boolean;
  errors?: { error_code?: string }[];
  created_at?: string;
}

/** A Seam device as far as this driver reads it. */
interface SeamDevice {
  device_id: string;
  device_type?: string;
  display_name?: string;
  connected_account_id?: string;
  created_at?: string;
  can_remotely_lock?: boolean;
  can_remotely_unlock?: boolean;
  can_program_online_access_codes?: boolean;
  can_program_offline_access_codes?: boolean;
  errors?: { error_code?: string }[];
  properties?: {
    name?: string;
    online?: boolean;
    locked?: boolean;
    door_open?: boolean;
    battery_level?: number;
    manufacturer?: string;
    model?: { display_name?: string; manufacturer_display_name?: string };
    supported_code_lengths?: number[];
    max_active_codes_supported?: number;
    /** Seam's code rules (`no_zeros`, `cannot_start_with_12`, ...) and name rules (`name_length` with its lengths). */
    code_constraints?: { constraint_type: string; min_length?: number; max_length?: number }[];
    firmware_version?: string;
    serial_number?: string;
    [key: string]: unknown;
  };
}

/** Puts lockwarden's slot into a Seam code name; `short` (`#3 name`) where the lock keeps short names only. */
export function taggedName(slot: number, name: string, short = false): string {
  return (short ? `#${slot} ${name}` : `[slot ${slot}] ${name}`).trim();
}

/** Builds a Seam driver from plain configuration. */
export function createSeamDriver(config: SeamDriverConfig): SeamDriver {
  return new SeamDriver(config);
}

/** Implements `LockDriver` over Seam's API. */
export class SeamDriver implements LockDriver {
  readonly name = 'seam';
  readonly hubConcurrency: number;
  private readonly seam: SeamHttp;
  private readonly endpoint: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly defaultSlots: number;
  private readonly now: () => number;
  private readonly logger: SeamDriverLogger | undefined;
  private readonly limiter: SeamRateLimiter;
  private readonly listeners = new Set<(e: DriverEvent) => void>();
  /** Codes lockwarden itself wrote lately: their events are echoes (`bySelf`). */
  private readonly ownCodes = new Map<string, number>();
  /** The slot each code had at the last read, to name the slot a `pin_used` event refers to. */
  private readonly slotOfCode = new Map<string, number>();
  private readonly seenEvents = new Set<string>();
  /**
   * Every device this driver has read or listed, as last seen: when it was last present (wall
   * clock, to compare with Seam's `created_at`), its account's provider once asked, and whether
   * Seam has since stopped listing it. A reset lock drops out of the workspace; what it was
   * (manufacturer, model, serial, account) must outlive it for the reconnect link and for `enroll`
   * to recognise the lock again, and `status` must tell "left the workspace" from "never existed".
   * In memory: a process that never saw a device answers for it as for any unknown id.
   */
  private readonly known = new Map<string, KnownDevice>();
  /** Open re-enrollment windows by previous device id ('' for none): the locks already listed when each opened. */
  private readonly windows = new Map<string, Set<string>>();
  /** The Connect Webview made for each open window, reused while the owner has not completed it. */
  private readonly webviews = new Map<string, { id: string; url: string }>();
  private readonly enrollPollMs: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private since: string;
  private notBefore = 0;
  private closed = false;

  constructor(config: SeamDriverConfig) {
    if (!config.apiKey) throw new DriverError('driver.refused', 'a Seam API key is required');
    this.apiKey = config.apiKey;
    this.endpoint = (config.endpoint ?? SEAM_ENDPOINT).replace(/\/+$/, '');
    this.timeoutMs = config.timeoutMs ?? 15_000;
    this.pollIntervalMs = config.pollIntervalMs ?? 30_000;
    this.defaultSlots = config.defaultSlots ?? 50;
    this.hubConcurrency = config.hubConcurrency ?? 4;
    this.enrollPollMs = config.enrollPollMs ?? 5_000;
    this.now = config.now ?? Date.now;
    this.logger = config.logger;
    this.limiter = new SeamRateLimiter(this.now, { ...SEAM_RATE_LIMITS, ...config.rateLimits });
    this.since = new Date(this.now() - 1000).toISOString();
    this.seam = makeClient(config.apiKey, {
      endpoint: this.endpoint,
      timeout: this.timeoutMs,
      // Retries (including on 429) are the job runner's decision, not the HTTP client's.
      axiosRetryOptions: { retries: 0 },
      waitForActionAttempt: { timeout: this.timeoutMs, pollingInterval: config.actionAttemptPollMs ?? 500 },
    });
  }

  /** One Seam workspace is one hub: the API key's. */
  hubOf(): string {
    return `seam:${new URL(this.endpoint).host}`;
  }

  async capabilities(externalId: string): Promise<DriverCapabilities> {
    try {
      return capabilitiesOf(await this.device(externalId), this.defaultSlots);
    } catch (e) {
      // A lock gone from the workspace still is what it was: the reset case asks how to re-enroll it.
      const gone = this.goneDevice(e, externalId);
      if (gone) return capabilitiesOf(gone, this.defaultSlots);
      throw e;
    }
  }

  /**
   * A lock this driver saw in the workspace and Seam no longer lists reads as factory-fresh and
   * offline, not as an error: a reset removes the lock from its maker's account, Seam drops it, and
   * it comes back only as a new device once the owner reconnects the account (`enroll`). The reset
   * case's setup-mode check passes on that ("it left the network: enroll it again"). An id this
   * process never saw stays `driver.unknown_device`.
   */
  async status(externalId: string): Promise<DeviceStatus> {
    let d: SeamDevice;
    try {
      d = await this.device(externalId);
    } catch (e) {
      if (this.goneDevice(e, externalId)) return { online: false, batteryPercent: null, bolt: 'unknown', firmware: null, setupMode: true, cloudBound: false };
      throw e;
    }
    const p = d.properties ?? {};
    const battery = typeof p.battery_level === 'number' ? Math.round(Math.min(1, Math.max(0, p.battery_level)) * 100) : null;
    return {
      online: p.online !== false,
      batteryPercent: battery,
      bolt: p.locked === true ? 'locked' : p.locked === false ? 'unlocked' : 'unknown',
      firmware: typeof p.firmware_version === 'string' ? p.firmware_version : null,
      setupMode: false,
      cloudBound: true,
    };
  }

  async readCredentials(externalId: string): Promise<ObservedCredentials> {
    const device = await this.device(externalId);
    const slots = capabilitiesOf(device, this.defaultSlots).pin.slots;
    const pins = this.toPins(await this.codes(externalId), slots).map(({ pin }) => pin);
    // Seam lists no controllers; lockwarden's own way in, this workspace, is the one it can vouch
    // for (after a re-enrollment, "lockwarden enrolled the lock again" rests on it).
    return { pins, controllers: [SEAM_SELF_CONTROLLER], digitalKeys: [], biometrics: [] };
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    // Refuse before reading when the write could not go out anyway (budget spent, or Seam said 429).
    this.limiter.ensureFree(externalId, 'update');
    this.limiter.ensureFree(externalId, 'create');
    const device = await this.device(externalId);
    const caps = capabilitiesOf(device, this.defaultSlots);
    // The device's own rules, checked before anything is sent: Seam would take the code and the
    // lock would refuse it later (a `setting` code that never becomes `set`).
    validatePin(caps, pin);
    const offline = caps.offlineCodes === 'only' || (pin.offline === true && caps.offlineCodes === 'supported');
    const placed = this.toPins(await this.codes(externalId), caps.pin.slots);
    const inSlot = placed.find((p) => p.pin.slot === pin.slot)?.code;
    if (placed.some((p) => p.pin.slot !== pin.slot && p.code.code === pin.code)) {
      throw new DriverError('driver.duplicate_pin', `another code on this lock already uses that PIN`, { slot: pin.slot });
    }
    const window = pin.schedule.kind === 'window' ? { starts_at: new Date(pin.schedule.from).toISOString(), ends_at: new Date(pin.schedule.until).toISOString() } : {};
    // Where Seam limits the name, the short tag leaves the holder's name more of it.
    const name = taggedName(pin.slot, pin.name, caps.pin.nameMaxLength !== undefined);
    if (offline) {
      // An offline code is computed for its window and cannot be edited: the old one goes, a new one is made.
      if (inSlot) await this.deleteCode(externalId, inSlot);
      this.limiter.take(externalId, 'create');
      // Plain POST: the SDK version pinned here does not type the offline fields. Whole hours are
      // checked above, so Seam's rounding (`max_time_rounding`) leaves the window as asked.
      const made = (await this.post(externalId, '/access_codes/create', { device_id: externalId, name, code: pin.code, ...window, is_offline_access_code: true, max_time_rounding: '1h' })) as { access_code?: { access_code_id?: string } } | null;
      if (made?.access_code?.access_code_id) this.markOwn(made.access_code.access_code_id);
      return;
    }
    if (inSlot && inSlot.is_managed !== false && inSlot.is_offline_access_code !== true && tagOf(inSlot) === pin.slot) {
      this.limiter.take(externalId, 'update');
      this.markOwn(inSlot.access_code_id);
      // Plain POST: the SDK sends updates as PATCH, which Seam's fake does not route.
      await this.post(externalId, '/access_codes/update', { access_code_id: inSlot.access_code_id, name, code: pin.code, ...(pin.schedule.kind === 'window' ? { type: 'time_bound', ...window } : { type: 'ongoing' }) });
      return;
    }
    // What occupies the slot without our tag (someone else's code) is replaced: removed, then ours created.
    if (inSlot) await this.deleteCode(externalId, inSlot);
    this.limiter.take(externalId, 'create');
    const created = await this.call(externalId, 'create', true, () => this.seam.accessCodes.create({ device_id: externalId, name, code: pin.code, ...window }));
    this.markOwn((created as { access_code_id: string }).access_code_id);
  }

  async clearPin(externalId: string, slot: number): Promise<void> {
    this.limiter.ensureFree(externalId, 'delete');
    const device = await this.device(externalId);
    const slots = capabilitiesOf(device, this.defaultSlots).pin.slots;
    // "Cleared" would be a lie on a lock with no codes, or for a slot it does not have.
    if (slots === 0) throw new DriverError('driver.not_supported', 'this lock takes no codes through Seam', { slot });
    if (!Number.isInteger(slot) || slot < 1 || slot > slots) throw new DriverError('driver.invalid_pin', `slot ${slot} does not exist on this lock (slots 1..${slots})`, { slot });
    const placed = this.toPins(await this.codes(externalId), slots);
    const inSlot = placed.find((p) => p.pin.slot === slot)?.code;
    if (inSlot) await this.deleteCode(externalId, inSlot);
  }

  listControllers(): Promise<never> {
    return Promise.reject(new DriverError('driver.not_supported', 'Seam does not list or remove paired controllers'));
  }

  removeController(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'Seam does not list or remove paired controllers'));
  }

  lock(externalId: string): Promise<void> {
    return this.lockOrUnlock(externalId, true);
  }

  unlock(externalId: string): Promise<void> {
    return this.lockOrUnlock(externalId, false);
  }

  factoryReset(): Promise<void> {
    return Promise.reject(new DriverError('driver.not_supported', 'Seam cannot factory reset a lock'));
  }

  /**
   * A Connect Webview for the owner to reconnect the lock's account, offering the previous lock's
   * provider where known. Opens the re-enrollment window (see `enroll`). Where Seam offers no
   * webview, the instructions say how to reconnect in Seam's console instead and `url` is null.
   */
  async prepareEnrollment(previousExternalId: string | null): Promise<EnrollmentPreparation> {
    await this.openWindow(previousExternalId);
    const prev = previousExternalId ? this.known.get(previousExternalId) : undefined;
    const provider = prev ? await this.providerOf(prev) : null;
    const account = provider ? `the ${providerName(provider)} account` : 'the account of the lock’s maker';
    const instructions = `Open the link and sign in to ${account} the lock is set up in (after the reset, set the lock up in the maker’s app again first if it is no longer listed there). Seam then lists the lock again and lockwarden finds it.`;
    // The case page asks on every visit: one pending link per re-enrollment, not one per page load.
    const made = this.webviews.get(previousExternalId ?? '');
    if (made) {
      const found = await this.postRaw('/connect_webviews/get', { connect_webview_id: made.id });
      if (found.ok && (found.json as { connect_webview?: { status?: unknown } } | null)?.connect_webview?.status === 'pending') return { url: made.url, instructions };
    }
    let res = await this.postRaw('/connect_webviews/create', provider ? { accepted_providers: [provider] } : {});
    // Seam does not offer that provider in a webview: let the owner pick the maker there.
    if (provider && (res.status === 400 || res.status === 422)) res = await this.postRaw('/connect_webviews/create', {});
    const webview = (res.json as { connect_webview?: { url?: unknown; connect_webview_id?: unknown } } | null)?.connect_webview;
    if (res.ok && typeof webview?.url === 'string') {
      if (typeof webview.connect_webview_id === 'string') this.webviews.set(previousExternalId ?? '', { id: webview.connect_webview_id, url: webview.url });
      if (this.webviews.size > 200) this.webviews.delete(this.webviews.keys().next().value!);
      return { url: webview.url, instructions };
    }
    if (res.ok || res.status === 404 || res.status === 405) {
      return { url: null, instructions: `Seam did not give lockwarden a reconnect link, so there is none to open here: in the Seam console, connect ${account} the lock is set up in again (after the reset, set the lock up in the maker’s app again first if it is no longer listed there). lockwarden then finds the lock.` };
    }
    throw this.statusError(null, res.status, res.type, res.retryAfter, 'device');
  }

  /**
   * Waits for the reset lock to come back into the workspace as a new device, after the owner
   * reconnected its account. A lock counts as new when it was not listed as the window opened
   * (`prepareEnrollment`, `unbindCloud`, or this call, whichever came first) or was added to Seam
   * after the previous device was last seen present; it is never the previous device itself nor
   * one Seam dropped. Where the previous device's manufacturer, model or serial are known, a
   * lock reporting others is passed over. Whether the device belongs to another lock record is
   * beyond the driver: the service refuses those. Polls every `enrollPollMs` until `timeoutMs`
   * or the signal, then `driver.timeout`; a Seam outage during the wait is waited out.
   */
  async enroll(request: EnrollmentRequest): Promise<EnrolledDevice> {
    const started = Date.now();
    const previousId = request.previousExternalId;
    const signal = request.signal;
    const stop = (why: string) => new DriverError('driver.timeout', why);
    if (signal?.aborted) throw stop('the search for the reconnected lock was cancelled');
    const baseline = await this.openWindow(previousId);
    const prev = previousId ? this.known.get(previousId) : undefined;
    for (;;) {
      try {
        const found = await this.newLock(previousId, prev, baseline);
        if (found) {
          // It answers our commands: read it directly, not only in a list.
          const d = await this.device(found.device_id);
          this.windows.delete(previousId ?? '');
          this.webviews.delete(previousId ?? '');
          return { externalId: d.device_id, manufacturer: manufacturerOf(d), model: modelOf(d), serial: serialOf(d) };
        }
      } catch (e) {
        if (!(e instanceof DriverError && e.retryable)) throw e;
      }
      if (signal?.aborted) throw stop('the search for the reconnected lock was cancelled');
      const left = started + request.timeoutMs - Date.now();
      if (left <= 0) {
        throw stop(`no new lock came into the Seam workspace within ${Math.max(1, Math.round(request.timeoutMs / 1000))} s: reconnect the lock’s account through the link, then try again`);
      }
      await sleep(Math.min(this.enrollPollMs, left), signal);
    }
  }

  /**
   * Removes the lock from this Seam workspace, so no account lockwarden reaches holds it any more.
   * When the lock is the only device on its connected account, the account is deleted: Seam's docs
   * say a deleted *device* never appears in the workspace again (only deleting its account brings
   * it back), which would keep the reset lock from being re-enrolled. When the account holds other
   * devices, only the device is deleted (`/devices/delete`), leaving the others; if Seam offers no
   * device deletion, that is `driver.refused` and nothing changed. Called again for a lock already
   * gone, it succeeds: the binding is gone either way, and a retry after a crash must not fail.
   */
  async unbindCloud(externalId: string): Promise<void> {
    let d: SeamDevice;
    try {
      d = await this.device(externalId);
    } catch (e) {
      if (e instanceof DriverError && e.code === 'driver.unknown_device') return;
      throw e;
    }
    // What the reconnect link needs must be asked before the account may go.
    const entry = this.known.get(externalId)!;
    await this.providerOf(entry);
    await this.openWindow(externalId);
    const account = d.connected_account_id;
    const others = account ? await this.otherDevicesOn(account, externalId) : null;
    if (account && others === 0) {
      const res = await this.postRaw('/connected_accounts/delete', { connected_account_id: account });
      if (res.ok || (res.status === 404 && res.type === 'connected_account_not_found')) {
        entry.gone = true;
        return;
      }
      // Any other 404/405: Seam offers no account deletion here; the device alone is removed below.
      if (res.status !== 404 && res.status !== 405) throw this.statusError(externalId, res.status, res.type, res.retryAfter, 'device');
    }
    const res = await this.postRaw('/devices/delete', { device_id: externalId });
    if (!res.ok && !(res.status === 404 && res.type === 'device_not_found')) {
      if (res.status === 404 || res.status === 405) {
        const why = others ? `its connected account holds ${others} other device(s) that removing the account would take with it` : 'nor its connected account';
        throw new DriverError('driver.refused', `Seam does not remove a single device in this workspace, and ${why}: remove the lock from the account in its maker’s app instead`);
      }
      throw this.statusError(externalId, res.status, res.type, res.retryAfter, 'device');
    }
    entry.gone = true;
  }

  async discover(): Promise<DiscoveredDevice[]> {
    return (await this.listLocks()).map((d) => ({ externalId: d.device_id, manufacturer: manufacturerOf(d), model: modelOf(d), label: d.display_name ?? d.properties?.name ?? d.device_id }));
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.pollTimer && !this.closed) {
      // Events from before the subscription are history, not news: the poll starts now.
      this.notBefore = this.now();
      this.since = new Date(this.notBefore).toISOString();
      this.pollTimer = setInterval(() => void this.pollEvents(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.pollTimer) {
        clearInterval(this.pollTimer);
        this.pollTimer = undefined;
      }
    };
  }

  /**
   * Takes one Seam event (from a verified webhook or the poll) and tells the listeners. An event
   * seen before (by id) is dropped, so webhook and poll can both run.
   */
  ingest(event: SeamEvent): void {
    if (this.seenEvents.has(event.event_id)) return;
    this.seenEvents.add(event.event_id);
    if (this.seenEvents.size > 5000) this.seenEvents.delete(this.seenEvents.values().next().value!);
    for (const e of this.toDriverEvents(event)) for (const l of this.listeners) l(e);
  }

  /** Reads `/events/list` once (the poll's body; also callable on demand). */
  async pollEvents(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const events = (await this.call(null, 'read', false, () => this.seam.events.list({ since: this.since }))) as unknown as unknown[];
      let newest = Date.parse(this.since);
      for (const e of events) {
        if (!isSeamEvent(e)) continue;
        const at = Date.parse(e.created_at ?? e.occurred_at ?? '');
        if (Number.isFinite(at)) newest = Math.max(newest, at);
        if (Number.isFinite(at) && at < this.notBefore) continue;
        this.ingest(e);
      }
      // Seam compares `since` strictly and clocks tick in milliseconds: look back a little, ids dedupe.
      this.since = new Date(newest - 2000).toISOString();
    } catch (e) {
      this.logger?.warn({ driver: 'seam', code: e instanceof DriverError ? e.code : 'unknown' }, 'Seam event poll failed');
    } finally {
      this.polling = false;
    }
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.listeners.clear();
    return Promise.resolve();
  }

  private toDriverEvents(e: SeamEvent): DriverEvent[] {
    const externalId = e.device_id;
    if (!externalId) return [];
    const at = new Date(e.occurred_at ?? e.created_at ?? this.now());
    const t = e.event_type;
    if (t.startsWith('access_code.')) {
      const own = e.access_code_id !== undefined && this.isOwn(e.access_code_id);
      return [{ type: 'credentials_changed', externalId, at, note: t, ...(own ? { bySelf: true } : {}) }];
    }
    if (t === 'lock.locked') return [{ type: 'bolt', externalId, bolt: 'locked', at }];
    if (t === 'lock.unlocked') {
      const out: DriverEvent[] = [{ type: 'bolt', externalId, bolt: 'unlocked', at }];
      const slot = e.access_code_id ? this.slotOfCode.get(e.access_code_id) : undefined;
      if (slot !== undefined) out.unshift({ type: 'pin_used', externalId, slot, at });
      return out;
    }
    if (t === 'device.connected' || t === 'device.disconnected') return [{ type: 'online', externalId, online: t === 'device.connected', at }];
    if (t === 'device.tampered') return [{ type: 'tamper', externalId, at }];
    return [];
  }

  private markOwn(accessCodeId: string): void {
    const now = this.now();
    this.ownCodes.set(accessCodeId, now);
    for (const [id, t] of this.ownCodes) if (t < now - 10 * 60_000) this.ownCodes.delete(id);
  }

  private isOwn(accessCodeId: string): boolean {
    const t = this.ownCodes.get(accessCodeId);
    return t !== undefined && t >= this.now() - 10 * 60_000;
  }

  private async device(externalId: string): Promise<SeamDevice> {
    let d: SeamDevice;
    try {
      d = await this.call(externalId, 'read', false, () => this.seam.devices.get({ device_id: externalId }));
    } catch (e) {
      const entry = this.known.get(externalId);
      if (entry && e instanceof DriverError && e.code === 'driver.unknown_device') entry.gone = true;
      throw e;
    }
    this.remember(d);
    return d;
  }

  /** The workspace's locks (Seam's lock device types), remembered. */
  private async listLocks(): Promise<SeamDevice[]> {
    const devices = (await this.call(null, 'read', false, () => this.seam.locks.list())) as unknown as SeamDevice[];
    for (const d of devices) this.remember(d);
    return devices;
  }

  private remember(d: SeamDevice): void {
    const entry = this.known.get(d.device_id);
    this.known.set(d.device_id, { device: d, seenAt: Date.now(), gone: false, provider: entry?.provider });
  }

  /** The cached device when `e` says Seam no longer knows a device this driver saw. */
  private goneDevice(e: unknown, externalId: string): SeamDevice | undefined {
    const entry = this.known.get(externalId);
    return e instanceof DriverError && e.code === 'driver.unknown_device' && entry?.gone ? entry.device : undefined;
  }

  /** Opens the re-enrollment window for a previous device (once): the locks listed now are not new. */
  private async openWindow(previousId: string | null): Promise<Set<string>> {
    const key = previousId ?? '';
    const open = this.windows.get(key);
    if (open) return open;
    const ids = new Set((await this.listLocks()).map((d) => d.device_id));
    this.windows.set(key, ids);
    if (this.windows.size > 200) this.windows.delete(this.windows.keys().next().value!);
    return ids;
  }

  /** The first lock that came into the workspace for this re-enrollment and could be the previous one. */
  private async newLock(previousId: string | null, prev: KnownDevice | undefined, baseline: Set<string>): Promise<SeamDevice | undefined> {
    const locks = await this.listLocks();
    const candidates = locks
      .filter((d) => d.device_id !== previousId)
      .filter((d) => !baseline.has(d.device_id) || (prev !== undefined && Date.parse(d.created_at ?? '') >= prev.seenAt))
      .filter((d) => !prev || (same(manufacturerOf(prev.device), manufacturerOf(d)) && same(modelOf(prev.device), modelOf(d)) && same(serialOf(prev.device), serialOf(d))))
      .sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.device_id.localeCompare(b.device_id));
    return candidates[0];
  }

  /** The Seam provider of a device's connected account (asked once), else the one its device type names. */
  private async providerOf(entry: KnownDevice): Promise<string | null> {
    if (entry.provider !== undefined) return entry.provider;
    let provider: string | null = null;
    const account = entry.device.connected_account_id;
    if (account) {
      try {
        const found = (await this.call(null, 'read', false, () => this.seam.connectedAccounts.get({ connected_account_id: account }))) as unknown as { provider?: unknown };
        if (typeof found.provider === 'string' && /^[a-z0-9_]{1,60}$/.test(found.provider)) provider = found.provider;
      } catch {
        // The account may be gone already; the device type still names the provider.
      }
    }
    provider ??= /^([a-z0-9_]+)_lock$/.exec(entry.device.device_type ?? '')?.[1] ?? null;
    entry.provider = provider;
    return provider;
  }

  /** How many devices besides this one (managed or not) the connected account holds. */
  private async otherDevicesOn(account: string, externalId: string): Promise<number> {
    const [managed, unmanaged] = await Promise.all([
      this.call(null, 'read', false, () => this.seam.devices.list({ connected_account_id: account })),
      this.call(null, 'read', false, () => this.seam.devices.unmanaged.list({ connected_account_id: account })),
    ]);
    const ids = new Set([...(managed as unknown as SeamDevice[]), ...(unmanaged as unknown as SeamDevice[])].map((d) => d.device_id));
    ids.delete(externalId);
    return ids.size;
  }

  /** Managed and unmanaged codes of a device, without the ones being removed. */
  private async codes(externalId: string): Promise<SeamAccessCode[]> {
    const [managed, unmanaged] = await Promise.all([
      this.call(externalId, 'read', false, () => this.seam.accessCodes.list({ device_id: externalId })),
      this.call(externalId, 'read', false, () => this.seam.accessCodes.unmanaged.list({ device_id: externalId })),
    ]);
    const byId = new Map<string, SeamAccessCode>();
    for (const c of [...(managed as unknown as SeamAccessCode[]), ...(unmanaged as unknown as SeamAccessCode[])]) byId.set(c.access_code_id, c);
    // Only this device's codes: Seam's fake (1.86) answers a list by device with every device's
    // codes, and a code of another lock taken for this one would be overwritten or deleted here.
    return [...byId.values()].filter((c) => c.status !== 'removing' && (c.device_id === undefined || c.device_id === externalId));
  }

  /** Gives every code a slot: its tag when it has a free one, else the lowest free slot in creation order. */
  private toPins(codes: SeamAccessCode[], slots: number): { pin: ObservedPin; code: SeamAccessCode }[] {
    const ordered = [...codes].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? '') || a.access_code_id.localeCompare(b.access_code_id));
    const taken = new Map<number, SeamAccessCode>();
    const untagged: SeamAccessCode[] = [];
    for (const c of ordered) {
      const tag = tagOf(c);
      if (tag !== undefined && tag >= 1 && tag <= slots && !taken.has(tag)) taken.set(tag, c);
      else untagged.push(c);
    }
    let next = 1;
    for (const c of untagged) {
      while (taken.has(next)) next++;
      if (next > slots) break;
      taken.set(next, c);
    }
    const out = [...taken.entries()].sort(([a], [b]) => a - b).map(([slot, c]) => ({ pin: toPin(slot, c), code: c }));
    for (const { pin, code } of out) this.slotOfCode.set(code.access_code_id, pin.slot);
    return out;
  }

  private async deleteCode(externalId: string, code: SeamAccessCode): Promise<void> {
    if (code.is_managed === false) {
      // Seam deletes only managed codes: take the unmanaged one over first.
      this.limiter.take(externalId, 'update');
      await this.post(externalId, '/access_codes/unmanaged/update', { access_code_id: code.access_code_id, is_managed: true, force: true });
    }
    this.limiter.take(externalId, 'delete');
    this.markOwn(code.access_code_id);
    // Already gone (someone else removed it meanwhile) is fine: the slot is empty, as wanted.
    await this.post(externalId, '/access_codes/delete', { access_code_id: code.access_code_id }, { goneIsFine: true });
  }

  private async lockOrUnlock(externalId: string, lock: boolean): Promise<void> {
    const device = await this.device(externalId);
    if (!canOperateRemotely(capabilitiesOf(device, this.defaultSlots), lock ? 'lock' : 'unlock')) throw new DriverError('driver.not_supported', `this lock cannot be ${lock ? 'locked' : 'unlocked'} through Seam`);
    this.limiter.take(externalId, 'lock');
    await this.call(externalId, 'lock', true, () => (lock ? this.seam.locks.lockDoor({ device_id: externalId }) : this.seam.locks.unlockDoor({ device_id: externalId })));
  }

  /** Plain JSON POST for the calls where the SDK and the API (or its fake) disagree. */
  private async post(externalId: string, path: string, body: Record<string, unknown>, opts: { goneIsFine?: boolean } = {}): Promise<unknown> {
    const res = await this.postRaw(path, body);
    if (res.ok) return res.json;
    if (res.status === 404 && opts.goneIsFine) return null;
    throw this.statusError(externalId, res.status, res.type, res.retryAfter, path.startsWith('/access_codes/') ? 'access code' : 'device');
  }

  /** One JSON POST; a transport failure throws, any HTTP answer is returned with Seam's error type. */
  private async postRaw(path: string, body: Record<string, unknown>): Promise<{ ok: boolean; status: number; json: unknown; type: string | undefined; retryAfter: string | null }> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw transportError(e, true);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    const type = (json as { error?: { type?: unknown } } | null)?.error?.type;
    return { ok: res.ok, status: res.status, json, type: typeof type === 'string' ? type : undefined, retryAfter: res.headers.get('retry-after') };
  }

  /** Runs one SDK call, mapping every failure to a `DriverError` (and 429 to a hold on the device). */
  private async call<T>(externalId: string | null, _kind: SeamRateKind | 'read', write: boolean, fn: () => Promise<T> | PromiseLike<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof DriverError) throw e;
      if (e instanceof SeamActionAttemptTimeoutError) throw new DriverError('driver.timeout', 'Seam accepted the action but the lock did not confirm it in time', { uncertain: true });
      if (e instanceof SeamActionAttemptFailedError) throw new DriverError('driver.refused', `Seam reported the action failed (${safeType(e.code)})`);
      if (e instanceof SeamHttpApiError) {
        // The axios error underneath carries the response headers (Retry-After on a 429).
        const headers = (e.cause as { response?: { headers?: Record<string, unknown> } } | undefined)?.response?.headers;
        const retryAfter = headers?.['retry-after'];
        throw this.statusError(externalId, e.statusCode, e.code, typeof retryAfter === 'string' ? retryAfter : null, 'device');
      }
      const status = (e as { response?: { status?: unknown; headers?: Record<string, string> } }).response;
      if (typeof status?.status === 'number') throw this.statusError(externalId, status.status, undefined, status.headers?.['retry-after'] ?? null, 'device');
      throw transportError(e, write);
    }
  }

  private statusError(externalId: string | null, status: number, type: string | undefined, retryAfter: string | null, what: 'device' | 'access code'): DriverError {
    const t = safeType(type);
    if (status === 429) {
      const seconds = Number(retryAfter);
      if (externalId) this.limiter.hold(externalId, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000);
      return new DriverError('driver.busy', `Seam rate limit reached (429)${externalId ? ' for this device' : ''}`);
    }
    if (status === 404 || t === 'device_not_found' || t === 'access_code_not_found') {
      return new DriverError('driver.unknown_device', `Seam does not know this ${t === 'access_code_not_found' ? 'access code' : what} (${t})`);
    }
    if (status === 409 || t === 'duplicate_access_code') return new DriverError('driver.duplicate_pin', 'Seam refused a code already on this lock');
    if (status === 401 || status === 403) return new DriverError('driver.refused', `Seam refused the API key (${status} ${t})`);
    if (status === 400 || status === 422) return new DriverError('driver.refused', `Seam refused the request (${t})`);
    if (status === 408 || status === 504) return new DriverError('driver.timeout', `Seam timed out (${status})`, { uncertain: true });
    return new DriverError('driver.unreachable', `Seam is unavailable (${status} ${t})`);
  }
}

/** The SDK client; a key the SDK rejects (wrong kind of token) is `driver.refused`, without the key. */
function makeClient(apiKey: string, options: Omit<Parameters<typeof SeamHttp.fromApiKey>[1] & object, 'apiKey'>): SeamHttp {
  try {
    return SeamHttp.fromApiKey(apiKey, options);
  } catch {
    throw new DriverError('driver.refused', 'the Seam API key is not in the format Seam issues (seam_…)');
  }
}

/** Seam's error types are identifiers; anything else (free text that might echo input) is dropped. */
function safeType(type: string | undefined): string {
  return type && /^[a-z0-9_.]{1,80}$/.test(type) ? type : 'unknown_error';
}

function transportError(e: unknown, write: boolean): DriverError {
  const code = (e as { code?: unknown; name?: unknown } | null)?.code;
  const name = (e as { name?: unknown } | null)?.name;
  const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || name === 'TimeoutError' || name === 'AbortError';
  if (timedOut) return new DriverError('driver.timeout', 'Seam did not answer in time', { uncertain: write });
  return new DriverError('driver.unreachable', `Seam could not be reached (${typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'network error'})`);
}

function tagOf(code: SeamAccessCode): number | undefined {
  const m = SLOT_TAG.exec(code.name ?? '');
  return m ? Number(m[1] ?? m[2]) : undefined;
}

function toPin(slot: number, c: SeamAccessCode): ObservedPin {
  const name = (c.name ?? '').replace(SLOT_TAG, '');
  const schedule: ObservedPin['schedule'] = c.type === 'time_bound' && c.starts_at && c.ends_at ? { kind: 'window', from: new Date(c.starts_at).toISOString(), until: new Date(c.ends_at).toISOString() } : { kind: 'always' };
  return { slot, code: typeof c.code === 'string' && c.code !== '' ? c.code : null, name, schedule, enabled: (c.errors ?? []).length === 0, ...(c.is_offline_access_code === true ? { offline: true } : {}) };
}

/** What the driver keeps of a device it saw (see `SeamDriver.known`). */
interface KnownDevice {
  device: SeamDevice;
  /** When Seam last listed it, by this machine's clock (ms). */
  seenAt: number;
  gone: boolean;
  /** Its account's provider: undefined until asked, null when Seam did not say. */
  provider?: string | null;
}

/** lockwarden itself, reaching the lock through its Seam workspace (its hub, see `hubOf`). */
export const SEAM_SELF_CONTROLLER: ObservedController = { id: 'seam-workspace', label: 'lockwarden, through its Seam workspace', kind: 'hub', admin: false, self: true };

/** How a Seam lock is enrolled again after a reset: the owner reconnects its account. */
export const SEAM_ENROLLMENT: EnrollmentMethod = {
  kind: 'reconnect',
  code: 'none',
  security: [],
  instructions:
    'After a factory reset the lock drops out of the Seam workspace. The owner sets the lock up again in its maker’s app if it asks, then reconnects that account to Seam through the link lockwarden shows. lockwarden then finds the lock in the workspace again; there is no code to type.',
};

function manufacturerOf(d: SeamDevice): string | null {
  return d.properties?.manufacturer ?? knownName(d.properties?.model?.manufacturer_display_name) ?? manufacturerFromType(d.device_type);
}

function modelOf(d: SeamDevice): string | null {
  return knownName(d.properties?.model?.display_name) ?? null;
}

function serialOf(d: SeamDevice): string | null {
  const s = d.properties?.serial_number;
  return typeof s === 'string' && s.trim() !== '' ? s : null;
}

/** Two facts agree unless both are known and differ (letter case aside). */
function same(a: string | null, b: string | null): boolean {
  return a === null || b === null || a.toLowerCase() === b.toLowerCase();
}

/** A provider's name as a person knows it. */
function providerName(provider: string): string {
  const names: Record<string, string> = { smartthings: 'SmartThings', ttlock: 'TTLock', igloohome: 'igloohome', my_2n: '2N' };
  return names[provider] ?? provider.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

/** Waits `ms`, or less when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Seam says "Generic" / "Device" when it does not know: that is no name. */
function knownName(name: string | undefined): string | undefined {
  return name && name !== 'Generic' && name !== 'Device' ? name : undefined;
}

function manufacturerFromType(type: string | undefined): string | null {
  const m = /^([a-z0-9]+)_lock$/.exec(type ?? '');
  return m ? m[1]! : null;
}

/** Seam's code constraints that name forbidden digits (Nuki: no zeros; TTLock keypads without 0, 8, 9 or 0, 7, 8, 9). */
const FORBIDDEN_DIGITS: Record<string, string[]> = { no_zeros: ['0'], cannot_contain_089: ['0', '8', '9'], cannot_contain_0789: ['0', '7', '8', '9'] };
/** Seam's code constraints that name forbidden beginnings. */
const FORBIDDEN_PREFIXES: Record<string, string> = { cannot_start_with_12: '12' };
/** Seam's code constraints that are one of the contract's named rules. */
const NAMED_RULES: Record<string, PinRule> = {
  no_triple_consecutive_ints: 'no_three_consecutive_digits',
  no_ascending_or_descending_sequence: 'no_ascending_or_descending_sequence',
  at_least_three_unique_digits: 'at_least_three_unique_digits',
};

/**
 * What a Seam device can do, from what Seam says about it: code support (online and offline
 * codes), `supported_code_lengths`, `max_active_codes_supported`, `code_constraints`, and the lock
 * and unlock flags apart. `defaultSlots` (configuration) only where the device does not say how many
 * codes it holds; lengths 4-8 only where it does not say which.
 */
export function capabilitiesOf(d: SeamDevice, defaultSlots: number): DriverCapabilities {
  const p = d.properties ?? {};
  const online = d.can_program_online_access_codes === true;
  const offline = d.can_program_offline_access_codes === true;
  const takesPins = online || offline;
  const lengths = [...new Set((p.supported_code_lengths ?? []).filter((n) => Number.isInteger(n) && n > 0))].sort((a, b) => a - b);
  const minLength = lengths.length ? lengths[0]! : 4;
  const maxLength = lengths.length ? lengths[lengths.length - 1]! : 8;
  const constraints = (p.code_constraints ?? []).map((c) => c.constraint_type);
  const forbiddenDigits = [...new Set(constraints.flatMap((c) => FORBIDDEN_DIGITS[c] ?? []))].sort();
  const forbiddenPrefixes = [...new Set(constraints.flatMap((c) => (FORBIDDEN_PREFIXES[c] ? [FORBIDDEN_PREFIXES[c]] : [])))];
  const rules = [...new Set(constraints.flatMap((c) => (NAMED_RULES[c] ? [NAMED_RULES[c]] : [])))];
  const slots = takesPins ? (typeof p.max_active_codes_supported === 'number' && p.max_active_codes_supported > 0 ? p.max_active_codes_supported : defaultSlots) : 0;
  // Seam's name limit is on the whole name, which carries lockwarden's slot tag: the holder gets the rest.
  const nameLimit = (p.code_constraints ?? []).find((c) => c.constraint_type === 'name_length')?.max_length;
  const nameMaxLength = typeof nameLimit === 'number' && slots > 0 ? Math.max(0, nameLimit - `#${slots} `.length) : undefined;
  const canLock = d.can_remotely_lock === true;
  const canUnlock = d.can_remotely_unlock === true;
  return {
    pin: {
      slots,
      minLength,
      maxLength,
      alphabet: 'digits',
      ...(lengths.length > 0 && lengths.length !== maxLength - minLength + 1 ? { lengths } : {}),
      ...(forbiddenDigits.length ? { forbiddenDigits } : {}),
      ...(forbiddenPrefixes.length ? { forbiddenPrefixes } : {}),
      ...(rules.length ? { rules } : {}),
      ...(nameMaxLength !== undefined ? { nameMaxLength } : {}),
    },
    schedules: { window: takesPins, recurring: false },
    digitalKeys: false,
    controllers: false,
    biometrics: false,
    remoteLockUnlock: canLock && canUnlock,
    remoteLock: canLock,
    remoteUnlock: canUnlock,
    ...(offline ? { offlineCodes: online ? ('supported' as const) : ('only' as const) } : {}),
    remoteFactoryReset: false,
    cloudBinding: true,
    events: true,
    enrollment: SEAM_ENROLLMENT,
    cloudUnbind: true,
  };
}

const HOUR_MS = 3_600_000;

function validatePin(caps: DriverCapabilities, pin: PinWrite): void {
  if (caps.pin.slots === 0) throw new DriverError('driver.not_supported', 'this lock takes no codes through Seam');
  if (!Number.isInteger(pin.slot) || pin.slot < 1 || pin.slot > caps.pin.slots) throw new DriverError('driver.invalid_pin', `slot must be 1..${caps.pin.slots}`, { slot: pin.slot });
  const broken = pinRuleBroken(pin.code, pin.name, caps);
  if (broken) throw new DriverError('driver.invalid_pin', broken, { slot: pin.slot });
  if (pin.schedule.kind === 'recurring') throw new DriverError('driver.not_supported', 'Seam codes take one time window, not a weekly schedule', { slot: pin.slot });
  if (pin.schedule.kind === 'window' && !(Date.parse(pin.schedule.from) < Date.parse(pin.schedule.until))) {
    throw new DriverError('driver.invalid_pin', 'the window must start before it ends', { slot: pin.slot });
  }
  if (pin.offline === true && !caps.offlineCodes) throw new DriverError('driver.not_supported', 'this lock takes no offline codes through Seam', { slot: pin.slot });
  const offline = caps.offlineCodes === 'only' || (pin.offline === true && caps.offlineCodes !== undefined);
  if (offline) {
    if (pin.schedule.kind !== 'window') throw new DriverError('driver.not_supported', 'an offline code needs a time window (this lock takes only offline codes through Seam)', { slot: pin.slot });
    // Offline codes are computed for whole hours; any other window would come back rounded (and read as drift).
    if (Date.parse(pin.schedule.from) % HOUR_MS !== 0 || Date.parse(pin.schedule.until) % HOUR_MS !== 0) {
      throw new DriverError('driver.invalid_pin', 'an offline code’s window starts and ends on the full hour', { slot: pin.slot });
    }
  }
}
