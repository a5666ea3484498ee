import { SingleFlight } from './single-flight';

describe('SingleFlight', () => {
  it('never overlaps runs, and runs once more for any number of calls during a run', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release: () => void = () => undefined;
    const flight = new SingleFlight(async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => (release = r));
      active--;
    });
    const first = flight.run();
    const during = [flight.run(), flight.run(), flight.run()];
    release(); // ends run 1; the calls made during it get exactly one more run
    await new Promise((r) => setImmediate(r));
    release();
    await Promise.all([first, ...during]);
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    expect(flight.inFlight).toBeUndefined();
  });

  it('lets the next call start a new run once one has ended, even after a failure', async () => {
    let calls = 0;
    const flight = new SingleFlight(async () => {
      calls++;
      if (calls === 1) throw new Error('first run fails');
    });
    await expect(flight.run()).rejects.toThrow('first run fails');
    await flight.run();
    expect(calls).toBe(2);
  });
});
