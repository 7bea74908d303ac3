// A tiny HTTP CONNECT proxy for the conformance step: every CONNECT
// host:port is tunnelled to <ip>:port (argv[2], default 127.0.0.1), so our
// SDK reaches storage URLs on a host under storage.oraclecloud.com (which
// Oracle's libraries require) through `[media_storage] proxy`, without an
// /etc/hosts edit. TLS stays end to end: the proxy only copies bytes.
// Prints {"event":"listening","port":N} once ready.
'use strict';
const net = require('net');

const ip = process.argv[2] || '127.0.0.1';
const server = net.createServer((client) => {
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > 8192) client.end('HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n');
      return;
    }
    client.removeListener('data', onData);
    const m = /^CONNECT [^\s:]+:(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
    if (!m) {
      client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
      return;
    }
    const upstream = net.connect(Number(m[1]), ip, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      const rest = head.subarray(end + 4);
      if (rest.length > 0) upstream.write(rest);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  };
  client.on('data', onData);
  client.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
});
