/**
 * Everything about a remote simulator that is not a driver command: provisioning, acting on locks
 * out of band or physically, faults, configuration, the change log. Tests and other processes use it
 * as the "world outside lockwarden" of a fleet served by `startSimServer`.
 */
import { z } from 'zod';
import type { ObservedController } from '../contract.js';
import type { FaultKind, SimFleetConfig, SimLogEntry } from './faults.js';
import type { SimHttpClient } from './http-client.js';
import type { PhysicalResetResult, ResetGesture, VirtualLockSpec, VirtualLockState } from './lock-spec.js';
import {
  ControllerSchema,
  LogEntrySchema,
  PhysicalResetResultSchema,
  StateSchema,
  type OutOfBandAction,
  type OutOfBandBody,
  type PhysicalAction,
  type PhysicalBody,
} from './schemas.js';

const Answer = z.object({ hub: z.string().nullable(), value: z.unknown() });

/** The control side of a remote fleet. */
export class HttpSimControl {
  constructor(
    private readonly http: SimHttpClient,
    /** Told every hub the server reports, so a driver sharing the cache knows it before its first command. */
    private readonly learnHub: (externalId: string, hub: string) => void = () => undefined,
  ) {}

  /** Adds a lock (kept as is when it exists) and returns its state. */
  async provision(spec: VirtualLockSpec): Promise<VirtualLockState> {
    return StateSchema.parse(await this.answer('POST', '/devices', spec, spec.externalId));
  }

  /** Takes a lock out of the fleet; false when there was none. */
  async remove(externalId: string): Promise<boolean> {
    return z.object({ removed: z.boolean() }).parse(await this.http.request('DELETE', `/devices/${encodeURIComponent(externalId)}`)).removed;
  }

  /** A lock's whole state, for inspection. */
  async get(externalId: string): Promise<VirtualLockState> {
    return StateSchema.parse(await this.answer('GET', this.path(externalId, ''), undefined, externalId));
  }

  /** Acts on a lock as someone outside lockwarden would; returns what the action returns (a controller, a slot...). */
  async outOfBand<A extends OutOfBandAction>(externalId: string, action: A, body: OutOfBandBody<A>): Promise<unknown> {
    return this.answer('POST', this.path(externalId, `/out-of-band/${action}`), body, externalId);
  }

  /** Pairs a controller from outside lockwarden and returns it. */
  async pairController(externalId: string, label: string, kind: 'hub' | 'phone' | 'fabric' = 'phone'): Promise<ObservedController> {
    return ControllerSchema.parse(await this.outOfBand(externalId, 'pair-controller', { label, kind }));
  }

  /** Acts on a lock with hands on it. */
  async physical<A extends PhysicalAction>(externalId: string, action: A, body: PhysicalBody<A>): Promise<unknown> {
    return this.answer('POST', this.path(externalId, `/physical/${action}`), body, externalId);
  }

  /** A technician's factory reset at the lock. */
  async physicalReset(externalId: string, gesture: ResetGesture): Promise<PhysicalResetResult> {
    return PhysicalResetResultSchema.parse(await this.physical(externalId, 'reset', gesture));
  }

  /** Makes the next `count` commands to a lock fail as `kind` (0 clears it). */
  async injectFault(externalId: string, kind: FaultKind, count = 1): Promise<void> {
    await this.answer('POST', this.path(externalId, '/faults'), { kind, count }, externalId);
  }

  /** Takes a lock off or back onto its network. */
  async setOnline(externalId: string, online: boolean): Promise<void> {
    await this.answer('POST', this.path(externalId, '/online'), { online }, externalId);
  }

  /** Changes the fleet's latency, fault rates or seed. */
  async configure(config: Partial<SimFleetConfig>): Promise<void> {
    await this.http.request('POST', '/config', config);
  }

  /** Applied changes after `after` (all by default). */
  async log(after = 0): Promise<SimLogEntry[]> {
    return z.object({ entries: z.array(LogEntrySchema) }).parse(await this.http.request('GET', `/log?after=${after}`)).entries;
  }

  private path(externalId: string, rest: string): string {
    return `/devices/${encodeURIComponent(externalId)}${rest}`;
  }

  private async answer(method: 'GET' | 'POST', path: string, body: unknown, externalId: string): Promise<unknown> {
    const a = Answer.parse(await this.http.request(method, path, body));
    if (a.hub !== null) this.learnHub(externalId, a.hub);
    return a.value;
  }
}
