/**
 * The starter catalogue: one generic reset procedure per lock family, from seed 004's "Common Lock
 * Reset Procedures Across Popular Systems". Every template is marked `generic` and says so in its
 * first warning: it must be confirmed against the manufacturer's instructions for the exact model.
 */
import type { HandbookContent } from './handbook.js';
import type { LockFamily } from './lock-models.js';

const CONFIRM = "Generic template: confirm every step against the manufacturer's instructions for this exact model before relying on it.";

const common = {
  generic: true,
  contacts: [],
  resources: [
    { tier: 'manufacturer' as const, label: "Manufacturer's support site (add the address for this model)", url: 'https://example.com/manufacturer-support' },
    { tier: 'community' as const, label: 'Community forums for this lock (locksmithing, home automation)', url: 'https://example.com/community' },
    { tier: 'support' as const, label: 'Manufacturer support line (add the number and hours)', phone: 'to be added', hours: 'business hours' },
  ],
};

/** Generic content for `family`; a person completes it for the real model. */
export const FAMILY_TEMPLATES: Record<LockFamily, HandbookContent> = {
  electronic_deadbolt: {
    ...common,
    title: 'Factory reset: electronic deadbolt (generic)',
    summary: 'Most electronic deadbolts reset from the interior side: hold the reset button until the indicator flashes, then enter the confirmation sequence. The exact sequence varies by manufacturer (1-2-3, 0-0-0, or the programming code twice).',
    estimatedMinutes: 10,
    tools: ['Screwdriver for the interior cover', 'Fresh batteries', 'The programming code (kept as a secret of this entry)'],
    warnings: [
      { kind: 'other', text: CONFIRM },
      { kind: 'lock_out_of_service', text: 'Every PIN and paired controller stops working until the lock is set up again.' },
      { kind: 'notify_occupants', text: 'Tell the occupants before you start; do it during normal hours, never in an emergency.' },
    ],
    steps: [
      { kind: 'other', text: 'Open the interior cover or battery compartment to reach the reset button.' },
      { kind: 'hold', text: 'Press and hold the interior reset button until the indicator light flashes.', seconds: 15 },
      { kind: 'wait_indicator', text: 'Release when the light flashes; the lock is waiting for the confirmation sequence.', seconds: 10 },
      { kind: 'sequence', text: 'Enter the confirmation sequence on the keypad.', sequence: '1-2-3 (or 0-0-0, or the programming code twice)' },
      { kind: 'verify', text: 'Check that old PINs no longer open the lock and that it is in setup mode.' },
    ],
  },
  keypad_entry: {
    ...common,
    title: 'Factory reset: keypad entry (generic)',
    summary: 'Keypad systems reset through a programming mode entered with a key combination and the master code, often holding the asterisk key while entering the master code.',
    estimatedMinutes: 10,
    tools: ['The master code (kept as a secret of this entry)', 'The physical override key, in case electronic access fails'],
    warnings: [
      { kind: 'other', text: CONFIRM },
      { kind: 'alarm_may_trigger', text: 'Repeated wrong codes can trigger a tamper alarm or lockout.' },
      { kind: 'notify_monitoring', text: 'Tell the monitoring service before you start if the door is monitored.' },
    ],
    steps: [
      { kind: 'press', text: 'Wake the keypad.' },
      { kind: 'sequence', text: 'Enter programming mode: hold the asterisk key while entering the master code.', sequence: '* + master code + #' },
      { kind: 'wait_indicator', text: 'Wait for the programming indicator (light or beep).', seconds: 5 },
      { kind: 'sequence', text: 'Choose the factory-reset option in the programming menu and confirm.', sequence: 'reset option + #' },
      { kind: 'verify', text: 'Check that old codes are refused and the default master code or setup mode is active.' },
    ],
  },
  app_controlled: {
    ...common,
    title: 'Factory reset: app-controlled lock (generic)',
    summary: "Reset from the app's settings with administrator credentials; no physical step. The lock may drop off the network and need the Wi-Fi password and account sign-in again.",
    estimatedMinutes: 10,
    tools: ['Phone or tablet with the lock app', 'Administrator account credentials', 'The Wi-Fi password for reconnection'],
    warnings: [
      { kind: 'other', text: CONFIRM },
      { kind: 'lock_out_of_service', text: 'The lock is disconnected from the network for 5-10 minutes while it resets and reconnects.' },
    ],
    steps: [
      { kind: 'other', text: "Sign in to the lock's app with an administrator account." },
      { kind: 'press', text: 'Open the lock, then Settings, then "Reset device" (or "Remove device").' },
      { kind: 'verify', text: 'Confirm the reset when the app asks and wait for it to report completion.' },
      { kind: 'other', text: 'Reconnect: enter the Wi-Fi password and sign in to the account again.' },
      { kind: 'verify', text: 'Check that the lock shows as newly set up and former users no longer appear.' },
    ],
  },
  biometric: {
    ...common,
    title: 'Reset: biometric lock (generic)',
    summary: 'Biometric locks re-enroll rather than reset codes: verify identity by an alternative method (security questions or the reset card issued at installation), then enroll fingerprints again.',
    estimatedMinutes: 15,
    tools: ['The reset card (its number is kept as a secret of this entry)', 'Proof of identity of the people to enroll'],
    warnings: [
      { kind: 'other', text: CONFIRM },
      { kind: 'lock_out_of_service', text: 'Enrolled fingerprints stop working until they are enrolled again.' },
      { kind: 'notify_occupants', text: 'Arrange for the people who must keep access to be present to re-enroll.' },
    ],
    steps: [
      { kind: 'verify', text: 'Verify the identity of the person asking for the reset (security questions or the reset card).' },
      { kind: 'press', text: 'Present the reset card to the reader, or enter the administrator menu.' },
      { kind: 'wait_indicator', text: 'Wait for the lock to signal enrollment mode.', seconds: 10 },
      { kind: 'other', text: 'Enroll the administrator fingerprint first, then each user.' },
      { kind: 'verify', text: 'Check that each enrolled finger opens the lock and a removed one does not.' },
    ],
  },
  safe_cabinet: {
    ...common,
    title: 'Reset: safe or cabinet lock (generic)',
    summary: 'Electronic safe and cabinet locks reset electronically with a mechanical override as the backup when the electronics fail.',
    estimatedMinutes: 20,
    tools: ['Override key or tool', 'Pin or paper clip for a reset pinhole', 'Fresh batteries'],
    warnings: [
      { kind: 'other', text: CONFIRM },
      { kind: 'lock_out_of_service', text: 'The safe or cabinet may need to stay open (door off its frame) during the reset.' },
    ],
    steps: [
      { kind: 'other', text: 'Open the door with a valid code or the mechanical override key.' },
      { kind: 'hold', text: 'Press and hold the reset button inside the door (or in the pinhole on the back plate).', seconds: 5 },
      { kind: 'wait_indicator', text: 'Wait for the confirmation beep or light.', seconds: 10 },
      { kind: 'sequence', text: 'Enter and confirm a new code.', sequence: 'new code + # + new code + #' },
      { kind: 'verify', text: 'With the door open, test the new code and the mechanical override before closing it.' },
    ],
  },
};
