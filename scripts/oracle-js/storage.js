#!/usr/bin/env node
'use strict';
// Storage objects through Oracle's high-level API (iotcs-csl-js 19.1.5),
// against iotcs-server's storage service. Copied by
// scripts/oracle-js-conformance.sh into its copy of the harness
// (../shared/oracle-js), beside dcd.js, so it shares lib/common.js.
//
//  1. activate with --model (a model with a URI attribute --attribute)
//  2. --upload FILE: createStorageObject(--name, --type) with the file as its
//     input path and --meta key=value custom metadata, set as the URI
//     attribute: the library uploads it, then sends the DATA message
//  3. --download FILE: wait for the cloud to set the URI attribute to a
//     storage object; download it to FILE
//  4. print a summary; exit 0 only if everything synced
//
// The library takes a URI for a storage object only if its host contains
// "storage.oraclecloud.com", so the server runs with such a --storage-host
// and --storage-ip makes this process resolve every host containing it to
// the server's address (no root, no /etc/hosts). The server's CA reaches
// Node through NODE_EXTRA_CA_CERTS (the library checks storage TLS against
// Node's CA store, not the trusted assets store).
//
// stdout: one JSON object per line ({"event": ...}); stderr: human text.

const dns = require('dns');
const C = require('./lib/common');

const USAGE = `usage: storage.js --tas FILE --password PW --model URN [--attribute NAME]
              [--upload FILE --name NAME [--type MIME] [--meta k=v ...]]
              [--download FILE] [--storage-ip IP] [--wait SECONDS]`;

const SPEC = Object.assign({}, C.LIB_SPEC, {
  model: { env: 'IOTCS_DEVICE_MODEL', required: true, help: 'device model URN with a URI attribute' },
  attribute: { env: 'IOTCS_STORAGE_ATTRIBUTE', default: 'image', help: 'the URI attribute that carries the storage object' },
  upload: { env: 'IOTCS_STORAGE_UPLOAD', help: 'file to upload as a storage object' },
  name: { env: 'IOTCS_STORAGE_NAME', help: 'the storage object name (upload)' },
  type: { env: 'IOTCS_STORAGE_TYPE', default: 'application/octet-stream', help: 'its mime type (upload)' },
  meta: { env: 'IOTCS_STORAGE_META', type: 'list', help: 'custom metadata key=value (upload)' },
  download: { env: 'IOTCS_STORAGE_DOWNLOAD', help: 'wait for the cloud to set the URI attribute to a storage object and download it here' },
  'storage-ip': { env: 'IOTCS_STORAGE_IP', help: 'resolve hosts containing storage.oraclecloud.com to this address' },
  wait: { env: 'IOTCS_WAIT', type: 'int', default: 30, help: 'seconds to wait for a sync' },
});

const run = C.createRun('storage', {
  endpointId: null, uploaded: null, downloaded: null, syncs: [],
});
const S = run.summary;

// Node's https asks dns.lookup at connect time, so replacing it here (before
// the library makes a request) redirects the storage host only.
function shimStorageHost(ip) {
  const original = dns.lookup;
  dns.lookup = function (hostname, options, callback) {
    if (typeof hostname === 'string' && hostname.includes('storage.oraclecloud.com')) {
      const cb = typeof options === 'function' ? options : callback;
      const all = typeof options === 'object' && options && options.all;
      const family = ip.includes(':') ? 6 : 4;
      return process.nextTick(() => (all ? cb(null, [{ address: ip, family }]) : cb(null, ip, family)));
    }
    return original.apply(this, arguments);
  };
}

// Resolves with the object once its onSync reports IN_SYNC or SYNC_FAILED.
function synced(iotcs, so, what) {
  const status = iotcs.device.StorageObject.SyncStatus;
  return new Promise((resolve, reject) => {
    so.onSync = (event) => {
      const s = so.getSyncStatus();
      const record = { what, status: s, name: event.getName(), uri: so.getURI(), length: so.getLength() };
      S.syncs.push(record);
      C.emit('sync', record);
      if (s === status.IN_SYNC) resolve(so);
      else if (s === status.SYNC_FAILED) reject(new Error(`${what} of ${so.getName()} failed to sync`));
    };
  });
}

function withTimeout(promise, seconds, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function upload(iotcs, dcd, vd, o) {
  const so = dcd.createStorageObject(o.name, o.type);
  so.setInputPath(o.upload);
  for (const item of o.meta || []) {
    const [k, v] = C.parseKv(item);
    so.setCustomMetadata(k, String(v));
  }
  const done = synced(iotcs, so, 'upload');
  const attrs = {};
  attrs[o.attribute] = so;
  vd.update(attrs);
  run.expect('DATA', `${o.model}:attributes`);
  await withTimeout(done, o.wait, 'upload');
  S.uploaded = { name: so.getName(), uri: so.getURI(), length: so.getLength(), type: so.getType() };
  C.emit('uploaded', S.uploaded);
}

async function download(iotcs, vd, o) {
  const offered = new Promise((resolve) => {
    vd.onChange = (tuples) => {
      for (const t of tuples) {
        S.onChange++;
        const value = t.newValue;
        const isStorage = value instanceof iotcs.device.StorageObject;
        C.emit('onChange', { attribute: t.attribute.id, storageObject: isStorage, uri: isStorage ? value.getURI() : String(value) });
        if (t.attribute.id === o.attribute && isStorage) resolve(value);
      }
    };
  });
  C.emit('waitingForStorageObject', { attribute: o.attribute });
  const so = await withTimeout(offered, o.wait, 'waiting for the cloud to set the URI attribute');
  so.setOutputPath(o.download);
  const done = synced(iotcs, so, 'download');
  so.sync();
  await withTimeout(done, o.wait, 'download');
  S.downloaded = { name: so.getName(), uri: so.getURI(), length: so.getLength(), type: so.getType(), encoding: so.getEncoding() || null };
  C.emit('downloaded', S.downloaded);
}

async function main() {
  const o = C.parseArgs(SPEC, USAGE);
  run.deadline(o.deadline);
  if (o.upload && !o.name) throw Object.assign(new Error('--upload needs --name'), { kind: 'usage' });
  if (o['storage-ip']) shimStorageHost(o['storage-ip']);
  let lib;
  try {
    lib = C.loadLibrary(o);
  } catch (e) {
    run.fail('load', e);
    return run.finish(e.kind === 'usage' ? 2 : 1);
  }
  const { iotcs, tas } = lib;
  const dcd = new iotcs.device.DirectlyConnectedDevice(tas, o.password);
  run.track(iotcs, dcd);
  if (!dcd.isActivated()) {
    try {
      await C.cb2p((cb) => dcd.activate([o.model], cb));
    } catch (e) {
      run.fail('activate', e);
      return run.finish(1);
    }
  }
  S.endpointId = dcd.getEndpointId();
  C.emit('activated', { endpointId: S.endpointId });
  let model;
  try {
    model = await C.cb2p((cb) => dcd.getDeviceModel(o.model, cb));
  } catch (e) {
    run.fail('getDeviceModel', e);
    return run.finish(1);
  }
  const vd = dcd.createVirtualDevice(dcd.getEndpointId(), model);
  vd.onError = (e) => run.fail('vd.onError', e.errorResponse || new Error('update failed'));
  // The library's own stack, which the harness's handler does not print.
  process.prependListener('uncaughtException', (e) => C.note(e && e.stack));
  try {
    if (o.upload) {
      await upload(iotcs, dcd, vd, o);
      // The DATA message that carries the object goes out once it synced.
      await run.listen(0, 2 * o['poll-ms'] + 1000);
    }
    if (o.download) await download(iotcs, vd, o);
  } catch (e) {
    run.fail(o.download && S.uploaded !== null ? 'download' : 'storage', e);
  }
  // Let the DATA message that carries the object go out.
  await run.listen(0, 2 * o['poll-ms'] + 1000);
  try { dcd.close(); } catch (e) { /* best effort */ }
  return run.finish(0);
}

main().catch((e) => { run.fail('main', e); run.finish(e.kind === 'usage' ? 2 : 1); });
