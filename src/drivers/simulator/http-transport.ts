/**
 * Reaching a fleet in another process (`lockwarden sim`) over HTTP. Every device answer carries the
 * device's hub, which is cached so the driver's synchronous `hubOf` is right after the first
 * contact; events arrive by long polling. Answers are parsed by schema: a device's words are input.
 */
import type { DeviceStatus, DriverEvent, EnrolledDevice, ObservedCredentials, PinWrite } from '../contract.js';
import type { SimCapabilities } from './lock-spec.js';
import type { SimDeviceInfo } from './fleet.js';
import { HttpSimControl } from './http-control.js';
import { SimHttpClient, type SimHttpOptions } from './http-client.js';
import { CapabilitiesSchema, DeviceInfoSchema, EnrolledDeviceSchema, DeviceStatusSchema, ObservedCredentialsSchema, WireEventSchema } from './schemas.js';
import type { SimTransport } from './transport.js';
import { z } from 'zod';

/** Request timeout and event polling of the HTTP transport. */
export interface HttpSimTransportOptions extends SimHttpOptions {
  /** How long one event poll waits on the server before asking again. */
  pollWaitMs?: number;
  /** Pause after a failed poll before trying again. */
  pollRetryMs?: number;
}

const Answer = z.object({ hub: z.string().nullable(), value: z.unknown() });
const EventsAnswer = z.object({ events: z.array(z.unknown()), next: z.int() });

/** Reaches a fleet served by `startSimServer` at `baseUrl`. */
export class HttpSimTransport implements SimTransport {
  private readonly http: SimHttpClient;
  private readonly hubs = new Map<string, string>();
  private readonly listeners = new Set<(event: DriverEvent) => void>();
  private readonly stop = new AbortController();
  private polling: Promise<void> | null = null;
  private readonly pollWaitMs: number;
  private readonly pollRetryMs: number;
  /** Provisioning, out-of-band and physical actions, faults and the log, on the same server (and hub cache). */
  readonly control: HttpSimControl;

  constructor(baseUrl: string, opts: HttpSimTransportOptions = {}) {
    this.http = new SimHttpClient(baseUrl, opts);
    this.pollWaitMs = opts.pollWaitMs ?? 20_000;
    this.pollRetryMs = opts.pollRetryMs ?? 1_000;
    this.control = new HttpSimControl(this.http, (externalId, hub) => this.hubs.set(externalId, hub));
  }

  knownHub(externalId: string): string | undefined {
    return this.hubs.get(externalId);
  }

  async capabilities(externalId: string): Promise<SimCapabilities> {
    return CapabilitiesSchema.parse(await this.device('GET', externalId, '/capabilities'));
  }

  async status(externalId: string): Promise<DeviceStatus> {
    return DeviceStatusSchema.parse(await this.device('GET', externalId, '/status'));
  }

  async readCredentials(externalId: string): Promise<ObservedCredentials> {
    return ObservedCredentialsSchema.parse(await this.device('GET', externalId, '/credentials'));
  }

  async setPin(externalId: string, pin: PinWrite): Promise<void> {
    await this.device('PUT', externalId, `/pins/${encodeURIComponent(pin.slot)}`, { code: pin.code, name: pin.name, schedule: pin.schedule });
  }

  async clearPin(externalId: string, slot: number): Promise<void> {
    await this.device('DELETE', externalId, `/pins/${encodeURIComponent(slot)}`);
  }

  async removeController(externalId: string, controllerId: string): Promise<void> {
    await this.device('DELETE', externalId, `/controllers/${encodeURIComponent(controllerId)}`);
  }

  async lock(externalId: string): Promise<void> {
    await this.device('POST', externalId, '/lock');
  }

  async unlock(externalId: string): Promise<void> {
    await this.device('POST', externalId, '/unlock');
  }

  async factoryReset(externalId: string): Promise<void> {
    await this.device('POST', externalId, '/factory-reset');
  }

  async enroll(code: string): Promise<EnrolledDevice> {
    const device = EnrolledDeviceSchema.parse(await this.http.request('POST', '/enroll', { code }));
    return device;
  }

  async unbindCloud(externalId: string): Promise<void> {
    await this.device('POST', externalId, '/unbind-cloud');
  }

  async discover(): Promise<SimDeviceInfo[]> {
    const { devices } = z.object({ devices: z.array(DeviceInfoSchema) }).parse(await this.http.request('GET', '/devices'));
    for (const d of devices) this.hubs.set(d.externalId, d.hub);
    return devices.map((d) => ({ ...d, manufacturer: d.manufacturer ?? '', model: d.model ?? '' }));
  }

  onEvent(listener: (event: DriverEvent) => void): () => void {
    this.listeners.add(listener);
    this.polling ??= this.pollEvents();
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.listeners.clear();
    await this.polling;
  }

  /** One device command: the answer's hub is remembered, its value returned. */
  private async device(method: 'GET' | 'POST' | 'PUT' | 'DELETE', externalId: string, path: string, body?: unknown): Promise<unknown> {
    const answer = Answer.parse(await this.http.request(method, `/devices/${encodeURIComponent(externalId)}${path}`, body));
    if (answer.hub !== null) this.hubs.set(externalId, answer.hub);
    return answer.value;
  }

  /** Long-polls `/events` while anyone listens; joins at the server's current position, then follows it. */
  private async pollEvents(): Promise<void> {
    let next: number | undefined;
    const signal = this.stop.signal;
    while (!signal.aborted && this.listeners.size > 0) {
      try {
        const query = next === undefined ? '' : `?after=${next}&waitMs=${this.pollWaitMs}`;
        const answer = EventsAnswer.parse(await this.http.request('GET', `/events${query}`, undefined, signal));
        next = answer.next;
        for (const raw of answer.events) {
          const parsed = WireEventSchema.safeParse(raw);
          // An event this version does not know is skipped, not fatal: the device may be newer.
          if (!parsed.success) continue;
          for (const listener of [...this.listeners]) {
            try {
              listener(parsed.data);
            } catch {
              // A listener's failure is its own; the others still hear the event.
            }
          }
        }
      } catch {
        if (signal.aborted) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollRetryMs);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
    this.polling = null;
  }
}
