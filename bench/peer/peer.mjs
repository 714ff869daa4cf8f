// The peer in passhub's .pkpass benchmark (issue 7): passkit-generator,
// pinned in package-lock.json, generating the same pass as passhub's
// BenchmarkRenderAndSign with the same certificates, on one core.
//
// cmd/passhub-bench-pkpass writes the inputs (certs/, model.pass/,
// dynamic.json), installs this directory with `npm ci` into a temporary
// copy and runs:
//
//   node peer.mjs --inputs DIR --warmup-ms 1000 --duration-ms 3000
//   node peer.mjs --inputs DIR --once out.pkpass --serial pas_01HXYZ
//
// The model and certificates are read once, as a server would keep them;
// each pass is then built as the library's documentation shows: a PKPass
// from the model buffers with the per-pass props, the field values pushed,
// the barcode set, getAsBuffer() for the signed archive.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PKPass } from "passkit-generator";

// passkit-generator reports what it drops (an invalid pass.json, a field,
// a missing icon) with console.warn and goes on; here that means the peer
// is not making the same pass, so it is fatal.
console.warn = (...msg) => {
	throw new Error("passkit-generator warned: " + msg.join(" "));
};

const { values: args } = parseArgs({
	options: {
		inputs: { type: "string" },
		"warmup-ms": { type: "string", default: "1000" },
		"duration-ms": { type: "string", default: "3000" },
		once: { type: "string" },
		serial: { type: "string", default: "pas_01HXYZ" },
	},
});
if (!args.inputs) {
	throw new Error("--inputs is required");
}

const certs = join(args.inputs, "certs");
const certificates = {
	wwdr: readFileSync(join(certs, "wwdr.pem")),
	signerCert: readFileSync(join(certs, "signerCert.pem")),
	signerKey: readFileSync(join(certs, "signerKey.pem")),
};
const modelDir = join(args.inputs, "model.pass");
const model = Object.fromEntries(
	readdirSync(modelDir).map((name) => [name, readFileSync(join(modelDir, name))]),
);
const dyn = JSON.parse(readFileSync(join(args.inputs, "dynamic.json"), "utf8"));
const sections = Object.entries(dyn.fields);

function makePass(serial) {
	const pass = new PKPass(model, certificates, {
		serialNumber: serial,
		authenticationToken: dyn.authenticationToken,
	});
	for (const [section, fields] of sections) {
		pass[section].push(...fields);
	}
	pass.setBarcodes({
		...dyn.barcode,
		message: dyn.barcode.message.replaceAll("{{serialNumber}}", serial),
	});
	return pass.getAsBuffer();
}

if (args.once) {
	writeFileSync(args.once, makePass(args.serial));
} else {
	const warmupMs = Number(args["warmup-ms"]);
	const durationMs = Number(args["duration-ms"]);
	let i = 0;
	for (const end = performance.now() + warmupMs; performance.now() < end; i++) {
		makePass(dyn.serialPrefix + i);
	}
	// CPU time of the whole process (every thread: GC, JIT) over the timed part.
	const cpu0 = process.cpuUsage();
	const start = performance.now();
	let n = 0;
	while (performance.now() - start < durationMs) {
		makePass(dyn.serialPrefix + i);
		i++;
		n++;
	}
	const seconds = (performance.now() - start) / 1000;
	const cpu = process.cpuUsage(cpu0);
	const cpuSeconds = (cpu.user + cpu.system) / 1e6;
	process.stdout.write(JSON.stringify({ passes: n, seconds, cpuSeconds }) + "\n");
}
