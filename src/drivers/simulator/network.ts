/**
 * The network between lockwarden and the simulated locks: how long each command takes and which
 * faults strike it, drawn from a seeded rng (fleet-wide rates) or scripted per lock (tests).
 */
import { DEFAULT_FLEET_CONFIG, FAULT_KINDS, faultApplies, type FaultKind, type SimCommand, type SimFleetConfig } from './faults.js';
import { SeededRng } from './rng.js';

/** What the network drew for one command before it was sent. */
export interface CommandDraw {
  latencyMs: number;
  /** Every fault kind whose rate hit, in `FAULT_KINDS` order; the first one the command can suffer applies. */
  faults: FaultKind[];
}

/** Fleet-wide latency and fault rates, with the rng they are drawn from. */
export class SimNetwork {
  private config: SimFleetConfig;
  private rng: SeededRng;

  constructor(config: Partial<SimFleetConfig> = {}) {
    this.config = { ...DEFAULT_FLEET_CONFIG, ...definedOnly(config) };
    this.rng = new SeededRng(this.config.seed);
  }

  /** Changes settings (given `faults` replace the previous rates); a new `seed` restarts the random sequence. */
  configure(config: Partial<SimFleetConfig>): void {
    const given = definedOnly(config);
    this.config = { ...this.config, ...given, faults: { ...(given.faults ?? this.config.faults) } };
    if (given.seed !== undefined) this.rng = new SeededRng(given.seed);
  }

  /** A copy of the current settings. */
  current(): SimFleetConfig {
    return structuredClone(this.config);
  }

  /**
   * Draws one command's latency and faults. The number of draws per command is fixed by the
   * settings alone, so the same seed and the same commands give the same outcomes whatever happens.
   */
  draw(): CommandDraw {
    const l = this.config.latencyMs;
    const latencyMs = typeof l === 'number' ? l : this.rng.int(l.min, l.max);
    const faults: FaultKind[] = [];
    for (const kind of FAULT_KINDS) {
      const p = this.config.faults[kind] ?? 0;
      if (p > 0 && this.rng.chance(p)) faults.push(kind);
    }
    return { latencyMs, faults };
  }

  /** How many commands a randomly drawn `offline` lasts. */
  get offlineCommands(): number {
    return this.config.offlineCommands;
  }
}

/** Faults scripted for one lock: each strikes the next command it can hit, `count` times. */
export class ScriptedFaults {
  private queue: { kind: FaultKind; remaining: number }[] = [];

  /** Scripts `count` faults of `kind`, replacing any left of that kind; 0 clears them. */
  inject(kind: FaultKind, count: number): void {
    this.queue = this.queue.filter((f) => f.kind !== kind);
    if (count > 0) this.queue.push({ kind, remaining: count });
  }

  /** The scripted fault that strikes `command`, if any, used up as it strikes. */
  take(command: SimCommand): FaultKind | null {
    const i = this.queue.findIndex((f) => faultApplies(f.kind, command));
    const f = this.queue[i];
    if (!f) return null;
    if (--f.remaining <= 0) this.queue.splice(i, 1);
    return f.kind;
  }
}

function definedOnly(config: Partial<SimFleetConfig>): Partial<SimFleetConfig> {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
}
