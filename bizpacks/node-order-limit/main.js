// node-order-limit: a TMF bizpack in JavaScript for Node.js 20, written only
// from the published contract: extensions/proto/*.proto (copied to ./proto),
// extensions/schema/*.json and docs/bizpacks.md ("Bizpacks in other
// languages"). It implements order.validate: an order of more than
// ORDER_LIMIT_MAX items (5 by default) is refused with the code
// "too_many_items".
//
// ORDER_LIMIT_DELAY_MS (0 by default) makes every call take that long: how
// the suite checks that the bizpack honours the call's deadline.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const forge = require('node-forge');

// 1. The handshake's preconditions: started by a TMF host, protocol 1.
if (process.env.TMF_BIZPACK !== 'tmf-bizpack-v1') {
  console.error('This is a TMF bizpack: the TMF server starts it, it is not run by hand.');
  process.exit(1);
}
const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS || '').split(',');
if (!versions.includes('1')) {
  console.error(`bizpack protocol 1 is not among the host's (${versions.join(',')})`);
  process.exit(1);
}

const MAX_ITEMS = Number(process.env.ORDER_LIMIT_MAX || 5);
const DELAY_MS = Number(process.env.ORDER_LIMIT_DELAY_MS || 0);
const manifest = fs.readFileSync(path.join(__dirname, 'bizpack.json'));

// 2. The services: tmf.bizpack.v1.Bizpack, grpc.health.v1.Health and
// go-plugin's plugin.GRPCController.
const load = (file) => grpc.loadPackageDefinition(protoLoader.loadSync(path.join(__dirname, 'proto', file),
  { keepCase: false, longs: Number, enums: String, defaults: true }));
const bizpackProto = load('bizpack.proto').tmf.bizpack.v1;
const healthProto = load('health.proto').grpc.health.v1;
const controllerProto = load('grpc_controller.proto').plugin;

// validate is the rule: the JSON request of order.validate
// (extensions/schema/ValidateRequest.json) to a Verdict (Verdict.json).
function validate(req) {
  const items = (req.lines || []).reduce((n, l) => n + (l.quantity || 0), 0);
  if (items > MAX_ITEMS) {
    return { allow: false, code: 'too_many_items', reason: `an order holds at most ${MAX_ITEMS} items, this one ${items}` };
  }
  return { allow: true };
}

// call answers one Call of a batch within its deadline (timeout_micros).
function call(c, cancelled) {
  const started = process.hrtime.bigint();
  const took = () => Number((process.hrtime.bigint() - started) / 1000n);
  if (c.point !== 'order.validate') {
    return Promise.resolve({ outcome: 'OUTCOME_UNKNOWN_POINT', error: `node-order-limit does not implement ${c.point}`, tookMicros: took() });
  }
  const timeoutMs = Math.max(1, Number(c.timeoutMicros || 1000000) / 1000);
  if (DELAY_MS === 0) {
    return Promise.resolve(answerNow(c, took));
  }
  return new Promise((resolve) => {
    const work = setTimeout(() => { clearTimeout(deadline); resolve(answerNow(c, took)); }, DELAY_MS);
    const deadline = setTimeout(() => {
      clearTimeout(work);
      resolve({ outcome: 'OUTCOME_TIMEOUT', error: `order.validate: no answer within ${timeoutMs}ms`, tookMicros: took() });
    }, timeoutMs);
    // The host gave up (its gRPC deadline passed, or its caller went away).
    cancelled.then(() => { clearTimeout(work); clearTimeout(deadline); });
  });
}

// answerNow runs the rule on a call's JSON request.
function answerNow(c, took) {
  try {
    const verdict = validate(JSON.parse(c.request.toString('utf8')));
    return { outcome: 'OUTCOME_OK', response: Buffer.from(JSON.stringify(verdict)), tookMicros: took() };
  } catch (err) {
    return { outcome: 'OUTCOME_ERROR', error: String((err && err.message) || err), tookMicros: took() };
  }
}

const server = new grpc.Server();
server.addService(bizpackProto.Bizpack.service, {
  Describe(_call, cb) {
    cb(null, { major: 1, minor: 1, manifest });
  },
  Invoke(rpc, cb) {
    const cancelled = new Promise((resolve) => rpc.on('cancelled', resolve));
    Promise.all(rpc.request.calls.map((c) => call(c, cancelled)))
      .then((results) => { if (!rpc.cancelled) cb(null, { results }); });
  },
  Health(_call, cb) {
    cb(null, { serving: true });
  },
});
server.addService(healthProto.Health.service, {
  Check(rpc, cb) {
    const service = rpc.request.service;
    if (service !== '' && service !== 'plugin') {
      cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
      return;
    }
    cb(null, { status: 'SERVING' });
  },
});
server.addService(controllerProto.GRPCController.service, {
  // Shutdown: answer, then exit at once. Without it, every stop waits the
  // host's kill grace and ends in SIGKILL.
  Shutdown(_call, cb) {
    cb(null, {});
    setImmediate(() => server.tryShutdown(() => process.exit(0)));
    setTimeout(() => process.exit(0), 200).unref();
  },
});

// 3. AutoMTLS: a self-signed certificate of our own for "localhost" (a DNS
// subjectAltName: Go refuses a certificate with only a Common Name); the
// host's certificate (PLUGIN_CLIENT_CERT) is the one client we accept.
function selfSigned() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01' + crypto.randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 30 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  const name = [{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'TMF bizpack' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
  ]);
  cert.sign(key, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { keyPem: Buffer.from(keyPem), certPem: Buffer.from(forge.pki.certificateToPem(cert)), der };
}

const hostCert = process.env.PLUGIN_CLIENT_CERT;
if (!hostCert) {
  console.error('no PLUGIN_CLIENT_CERT: the host must use AutoMTLS');
  process.exit(1);
}
const own = selfSigned();
const creds = grpc.ServerCredentials.createSsl(Buffer.from(hostCert),
  [{ private_key: own.keyPem, cert_chain: own.certPem }], true);

// 4. Listen on a unix socket in the directory the host gave us, then print
// the handshake line: CORE|APP|NETWORK|ADDRESS|PROTOCOL|CERT, the
// certificate as unpadded standard base64 of its DER.
const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || process.env.TMPDIR || '/tmp';
const sock = path.join(dir, `plugin${crypto.randomBytes(4).toString('hex')}`);
server.bindAsync(`unix:${sock}`, creds, (err) => {
  if (err) {
    console.error(`listen on ${sock}: ${err.message}`);
    process.exit(1);
  }
  const cert = own.der.toString('base64').replace(/=+$/, '');
  process.stdout.write(`1|1|unix|${sock}|grpc|${cert}\n`);
  console.error(`node-order-limit serving on ${sock}, at most ${MAX_ITEMS} items an order`);
});

// 5. Exit when the host is gone (it started us; we were orphaned).
const ppid = process.ppid;
setInterval(() => { if (process.ppid !== ppid) process.exit(3); }, 250).unref();
process.on('SIGTERM', () => process.exit(0));
