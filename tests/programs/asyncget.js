// asyncget.js: Node HTTP clients for tests/integration/async.sh (issue 13): every connection opened at once, on
// Node's one event loop.
//
//	node asyncget.js net|fetch [--tick-ms MS] [--limit-s S] PORT HOST...
//
// net:   net.connect to each HOST:PORT, an HTTP GET written on 'connect', the response read to its end;
// fetch: the global fetch (undici) of http://HOST:PORT/ for each, all awaited together.
// A setInterval of MS milliseconds (default 10) records the instant of every tick from before the first
// connection to the end: a loop frozen inside connect() records none.
//
// Prints one JSON object: {"start": T, "end": T, "ticks": [T...], "results": [{"host", "ok": true, "body",
// "peer_ok"} or {"host", "ok": false, "op", "error"}...]} (T: seconds since the epoch). "error" is the errno's
// name (ECONNREFUSED; for fetch, the first code found down the chain of causes), "op" the system call it came
// from (connect, read, write) where Node says so. peer_ok (net only): socket.remoteAddress and remotePort, read
// at 'connect' (getpeername), were the address Node connected to and PORT. Connections not done after S
// seconds (default 30) fail with op "limit". Exit status 0 when every connection was ok, 2 otherwise.
'use strict';
const net = require('net');
const dns = require('dns');

const now = () => (performance.timeOrigin + performance.now()) / 1000;
let args = process.argv.slice(2);
const mode = args.shift();
let tickMs = 10, limitS = 30;
while (args.length && args[0].startsWith('--')) {
  const [k, v] = args.splice(0, 2);
  if (k === '--tick-ms') tickMs = +v;
  else if (k === '--limit-s') limitS = +v;
  else usage();
}
if ((mode !== 'net' && mode !== 'fetch') || args.length < 2) usage();
const port = +args[0];
const hosts = args.slice(1);

function usage() {
  console.error('usage: node asyncget.js net|fetch [--tick-ms MS] [--limit-s S] PORT HOST...');
  process.exit(1);
}

function errCode(e) {
  for (let x = e; x; x = x.cause) {
    if (typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code)) return { error: x.code, op: x.syscall || 'fetch' };
  }
  return { error: (e && e.cause && e.cause.code) || (e && e.code) || (e && e.name) || String(e), op: 'fetch' };
}

function bodyOf(host, text) {
  const i = text.indexOf('\r\n\r\n');
  if (!text.startsWith('HTTP/1.') || i < 0 || i + 4 >= text.length) {
    return { host, ok: false, op: 'response', error: i < 0 ? 'not-http' : 'no-body' };
  }
  return { host, ok: true, body: text.slice(i + 4) };
}

function viaNet(host) {
  return new Promise(resolve => {
    let peer = null, data = '', connected = false;
    const s = net.connect({ host, port });
    s.setEncoding('utf8');
    s.on('connect', () => {
      connected = true;
      peer = { address: s.remoteAddress, port: s.remotePort };
      s.write('GET / HTTP/1.0\r\nHost: ' + host + '\r\nConnection: close\r\n\r\n');
    });
    s.on('data', d => { data += d; });
    s.on('end', () => {
      const r = bodyOf(host, data);
      if (!r.ok) return resolve(r);
      dns.lookup(host, { all: true }, (e, addrs) => {
        r.peer_ok = !e && !!peer && peer.port === port && addrs.some(a => a.address === peer.address);
        resolve(r);
      });
    });
    s.on('error', e => resolve({ host, ok: false, op: e.syscall || (connected ? 'read' : 'connect'),
                                 error: e.code || e.message, detail: e.message }));
  });
}

async function viaFetch(host) {
  try {
    const res = await fetch('http://' + host + ':' + port + '/', { headers: { connection: 'close' } });
    const body = await res.text();
    if (res.status !== 200) return { host, ok: false, op: 'response', error: 'HTTP ' + res.status };
    return body ? { host, ok: true, body } : { host, ok: false, op: 'response', error: 'no-body' };
  } catch (e) {
    return Object.assign({ host, ok: false, detail: String(e.cause || e) }, errCode(e));
  }
}

const ticks = [];
const timer = setInterval(() => ticks.push(now()), tickMs);
setImmediate(() => {
  const start = now();
  const results = new Array(hosts.length).fill(null);
  const limit = setTimeout(() => report(), limitS * 1000);
  let left = hosts.length;
  hosts.forEach((h, i) => (mode === 'net' ? viaNet(h) : viaFetch(h)).then(r => {
    results[i] = r;
    if (--left === 0) report();
  }));
  function report() {
    clearTimeout(limit);
    clearInterval(timer);
    const end = now();
    const out = results.map((r, i) => r || { host: hosts[i], ok: false, op: 'limit', error: 'limit' });
    for (const r of out) if (!r.ok) console.error('asyncget.js: ' + r.host + ': ' + r.op + ': ' + r.error);
    process.stdout.write(JSON.stringify({ start, end, ticks, results: out }) + '\n',
                         () => process.exit(out.every(r => r.ok) ? 0 : 2));
  }
});
