/**
 * The simulator passes the driver conformance suite through both transports: in this process, and
 * over HTTP against a real `startSimServer` on 127.0.0.1. A third run uses a safe with few
 * capabilities, so the "refused where not declared" branches are exercised too.
 */
import { describeDriverConformance, type ConformanceHarness } from './conformance.js';
import { fullDeadbolt, testSpec } from './fixtures.js';
import { HttpSimTransport, InProcessSimTransport, SimFleet, SimulatorDriver, startSimServer, type VirtualLockSpec } from '../../src/drivers/simulator/index.js';

function inProcess(spec: VirtualLockSpec): () => Promise<ConformanceHarness> {
  return async () => {
    const fleet = new SimFleet();
    fleet.provision(spec);
    const id = spec.externalId;
    const driver = new SimulatorDriver(new InProcessSimTransport(fleet));
    return {
      driver,
      externalId: id,
      uniquePins: true,
      peer: {
        setPinOutOfBand: async (slot, code) => fleet.outOfBand.setPin(id, slot, code, 'at the keypad'),
        pairControllerOutOfBand: async (label) => void fleet.outOfBand.pairController(id, label, 'phone'),
        injectFault: async (kind) => (fleet.injectFault(id, kind, 1), true),
        recoverFromReset: async () => fleet.outOfBand.pairLockwarden(id),
      },
      close: () => driver.close(),
    };
  };
}

describeDriverConformance('simulator, in process', inProcess(fullDeadbolt('sim-0001')));

describeDriverConformance('simulator, in process, a safe with few capabilities', inProcess(testSpec('sim-0002', 'safe_cabinet')));

describeDriverConformance('simulator, over HTTP', async () => {
  const server = await startSimServer({ host: '127.0.0.1', port: 0 });
  const transport = new HttpSimTransport(server.url, { pollWaitMs: 2_000, pollRetryMs: 50 });
  const control = transport.control;
  const spec = fullDeadbolt('sim-0003');
  await control.provision(spec);
  const id = spec.externalId;
  const driver = new SimulatorDriver(transport, { hubConcurrency: 3 });
  return {
    driver,
    externalId: id,
    uniquePins: true,
    peer: {
      setPinOutOfBand: async (slot, code) => void (await control.outOfBand(id, 'set-pin', { slot, code, name: 'at the keypad' })),
      pairControllerOutOfBand: async (label) => void (await control.pairController(id, label)),
      injectFault: async (kind) => (await control.injectFault(id, kind, 1), true),
      recoverFromReset: async () => void (await control.outOfBand(id, 'pair-lockwarden', {})),
    },
    close: async () => {
      await driver.close();
      await server.close();
    },
  };
});
