// Terminal throughput and input round trip of one server's /pty, over its connect WebSocket.
//   node --experimental-websocket --disable-warning=ExperimentalWarning bench/lib/terminal.mjs BASE_URL
// Env: BYTES (output per throughput run, default 20000000), RUNS (throughput runs, default 3),
//      PINGS (round trips, default 200), RUN_TIMEOUT (seconds a throughput run may take, default 180).
// Prints one JSON line: {throughput_mb_s (median of the runs, 1 MB = 10^6 bytes), latency_p50_ms,
// latency_p99_ms, bytes (received in the throughput runs), ...details}.
//
// The terminal runs `bash --norc --noprofile`. Throughput: one command prints BYTES x's, then a
// marker the typed line's echo cannot contain (it is put together from two shell variables); the
// time is from sending the line to seeing the marker. Round trip: `echo $((n+1000000))`, one at a
// time, timed from sending to seeing the number (again not in the typed line's echo).
// A server may cut off a client that falls behind (close code 1013 on ours): the client then
// reconnects from its cursor, and what the server no longer kept is counted as lost_bytes.

const base = (process.argv[2] || '').replace(/\/$/, '');
if (!base) {
  console.error('usage: terminal.mjs BASE_URL');
  process.exit(2);
}
const BYTES = Number(process.env.BYTES || 20_000_000);
const RUNS = Number(process.env.RUNS || 3);
const PINGS = Number(process.env.PINGS || 200);
const RUN_TIMEOUT = Number(process.env.RUN_TIMEOUT || 180) * 1000;

const log = (...a) => console.error('terminal.mjs:', ...a);

async function http(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

// One terminal client: output goes through `onText`; reconnects from its cursor when cut off.
class Client {
  constructor(id) {
    this.id = id;
    this.cursor = null; // the server's cursor after what we have received (UTF-8 bytes)
    this.received = 0; // bytes of text received (all connections)
    this.reconnects = 0;
    this.lostBytes = 0;
    this.closes = [];
    this.waiters = []; // {test(text) -> bool, resolve}
    this.tail = ''; // the last few hundred characters, so a marker split across messages is seen
    this.closed = false;
  }

  connect(cursor) {
    const wsBase = base.replace(/^http/, 'ws');
    const query = cursor == null ? '' : `?cursor=${cursor}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${wsBase}/pty/${this.id}/connect${query}`);
      ws.binaryType = 'arraybuffer';
      let ready = false;
      let replayBytes = 0;
      ws.onmessage = (event) => {
        if (typeof event.data === 'string') {
          const n = Buffer.byteLength(event.data);
          this.received += n;
          if (!ready) replayBytes += n;
          this.onText(event.data);
        } else {
          const bytes = new Uint8Array(event.data);
          if (bytes[0] !== 0) return;
          const meta = JSON.parse(Buffer.from(bytes.subarray(1)).toString('utf8'));
          if (!ready) {
            if (cursor != null && cursor >= 0 && typeof meta.cursor === 'number') {
              // The replay should have been everything from `cursor` to the new cursor.
              const lost = meta.cursor - cursor - replayBytes;
              if (lost > 0) this.lostBytes += lost;
            }
            this.cursor = meta.cursor;
            this.sinceCursor = 0;
            ready = true;
            resolve();
          }
        }
      };
      ws.onerror = (event) => {
        if (!ready) reject(new Error(`connect failed: ${event.message || event.error || 'error'}`));
      };
      ws.onclose = (event) => {
        this.closes.push({ code: event.code, reason: event.reason });
        if (!ready) {
          reject(new Error(`closed before the cursor frame: ${event.code} ${event.reason}`));
          return;
        }
        if (this.closed || this.ws !== ws) return;
        if (event.code === 1013 || event.code === 1006 || event.code === 1011) {
          // Cut off (fell behind): resume from what we have seen.
          this.reconnects += 1;
          const from = this.cursor == null ? null : this.cursor + this.sinceCursor;
          this.sinceCursor = 0;
          this.connect(from).catch((e) => this.fail(e));
        } else {
          this.fail(new Error(`the server closed the terminal socket: ${event.code} ${event.reason}`));
        }
      };
      this.ws = ws;
      this.sinceCursor = 0;
    });
  }

  onText(text) {
    this.sinceCursor += Buffer.byteLength(text);
    this.tail = (this.tail + text).slice(-256);
    if (this.waiters.length === 0) return;
    for (const w of [...this.waiters]) {
      if (this.tail.includes(w.needle)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  fail(error) {
    for (const w of this.waiters.splice(0)) w.reject(error);
    this.failure = error;
  }

  // Resolves when `needle` appears in the output after this call.
  waitFor(needle, timeoutMs) {
    if (this.failure) return Promise.reject(this.failure);
    this.tail = '';
    return new Promise((resolve, reject) => {
      const w = { needle, resolve: () => { clearTimeout(timer); resolve(); }, reject };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${JSON.stringify(needle)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  type(text) {
    this.ws.send(text);
  }

  close() {
    this.closed = true;
    try { this.ws.close(); } catch { /* already closed */ }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
// Nearest rank.
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function roundTrip(client, n, timeoutMs = 10_000) {
  const value = String(n + 1_000_000);
  const seen = client.waitFor(`${value}\r\n`, timeoutMs);
  const t0 = performance.now();
  client.type(`echo $((${n}+1000000))\r`);
  await seen;
  return performance.now() - t0;
}

async function main() {
  const pty = await http('POST', '/pty', {
    command: 'bash',
    args: ['--norc', '--noprofile'],
    title: 'terminal bench',
  });
  const client = new Client(pty.id);
  const result = { id: pty.id };
  try {
    await client.connect(null);
    // The shell is up once it answers.
    for (let i = 0; i < 5; i++) await roundTrip(client, i, 30_000);

    // (1) throughput
    const runs = [];
    let bytes = 0;
    for (let r = 0; r < RUNS; r++) {
      const mark = `${r}${Math.floor(Math.random() * 9000) + 1000}`;
      const needle = `DONE_${mark}`;
      const done = client.waitFor(needle, RUN_TIMEOUT);
      const before = client.received;
      const t0 = performance.now();
      // Short enough for one line of the 80-column terminal after the prompt.
      client.type(`a=DONE_;b=${mark};head -c ${BYTES} /dev/zero|tr '\\0' x;echo;echo $a$b\r`);
      await done;
      const seconds = (performance.now() - t0) / 1000;
      const got = client.received - before;
      bytes += got;
      runs.push({ seconds: round(seconds), bytes: got, mb_s: round(got / 1e6 / seconds, 2) });
      log(`throughput run ${r + 1}: ${got} bytes in ${seconds.toFixed(3)} s, ${(got / 1e6 / seconds).toFixed(2)} MB/s`);
      // Let the prompt settle before the next run.
      await roundTrip(client, 100 + r, 30_000);
    }

    // (2) input round trip
    const times = [];
    for (let i = 0; i < PINGS; i++) times.push(await roundTrip(client, 1000 + i));
    log(`round trips (ms, in order): ${times.map((t) => t.toFixed(2)).join(' ')}`);
    log(`round trips: p50 ${percentile(times, 50).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms`);

    Object.assign(result, {
      throughput_mb_s: median(runs.map((r) => r.mb_s)),
      latency_p50_ms: round(percentile(times, 50)),
      latency_p99_ms: round(percentile(times, 99)),
      bytes,
      runs,
      latency_mean_ms: round(times.reduce((a, b) => a + b, 0) / times.length),
      latency_max_ms: round(Math.max(...times)),
      reconnects: client.reconnects,
      lost_bytes: client.lostBytes,
      closes: client.closes,
    });
  } finally {
    client.close();
    try {
      await http('DELETE', `/pty/${pty.id}`);
    } catch (e) {
      log(`DELETE failed: ${e.message}`);
    }
  }
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  log(e.stack || String(e));
  process.exit(1);
});
