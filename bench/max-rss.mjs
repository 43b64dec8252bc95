// Preloaded (`node --import`) into a process the benchmark spawns: at exit, writes that process's
// peak resident set size (the kernel's high-water mark) to LOCKWARDEN_BENCH_RSS_FILE.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.LOCKWARDEN_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const mem = process.memoryUsage();
    writeFileSync(file, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: kb('VmHWM'), rssAtExit: mem.rss, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers }));
  });
}
