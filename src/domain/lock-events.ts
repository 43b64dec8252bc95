/**
 * A lock's device history: what its device (or the service in front of it) reported, in words. The
 * echo of lockwarden's own writes is left out: the command and its outcome are recorded already.
 */
import type { DriverEvent } from '../drivers/contract.js';

export interface LockEvent {
  id: string;
  lockId: string;
  at: Date;
  type: DriverEvent['type'];
  summary: string;
  source: string;
}

/** The event in words, or null when it is not worth a line (lockwarden's own echo). */
export function describeEvent(e: DriverEvent): string | null {
  switch (e.type) {
    case 'credentials_changed':
      if (e.bySelf) return null;
      return `Credentials changed outside lockwarden${e.note ? ` (${e.note})` : ''}`;
    case 'pin_used':
      return `Unlocked with the PIN in slot ${e.slot}`;
    case 'bolt':
      return `Bolt ${e.bolt}`;
    case 'reset_detected':
      return 'Factory reset reported';
    case 'tamper':
      return 'Tamper reported';
    case 'online':
      return e.online ? 'Came online' : 'Went offline';
    case 'device_error':
      return e.message;
  }
}
