// Runs a TFJS graph model with the original TensorFlow.js runtime (CPU backend), as the
// reference for detectors/tfjs_onnx.py. Test/build-time tool only; Vigil never runs it.
//
// usage: node tfjs_reference.cjs NODE_MODULES MODEL_JSON INPUT_RAW DTYPE SHAPE OUTPUTS
//   INPUT_RAW: little-endian raw tensor bytes; DTYPE: int32 | float32; SHAPE: "1,192,192,3";
//   OUTPUTS: comma-separated TF tensor names (e.g. "Identity:0").
// Prints {"<name>": {"shape": [...], "values": [...]}, ...} on stdout.
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const [modules, modelJson, inputRaw, dtype, shapeText, outputsText] = process.argv.slice(2);
const load = createRequire(path.join(path.resolve(modules), "noop.js"));
const tf = load("@tensorflow/tfjs-core");
load("@tensorflow/tfjs-backend-cpu");
const converter = load("@tensorflow/tfjs-converter");

async function main() {
  await tf.setBackend("cpu");
  const doc = JSON.parse(fs.readFileSync(modelJson, "utf8"));
  const dir = path.dirname(modelJson);
  const specs = doc.weightsManifest.flatMap((group) => group.weights);
  const shards = doc.weightsManifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
  const weights = Buffer.concat(shards);
  const handler = {
    load: async () => ({
      modelTopology: doc.modelTopology,
      format: doc.format,
      generatedBy: doc.generatedBy,
      convertedBy: doc.convertedBy,
      signature: doc.signature,
      weightSpecs: specs,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  };
  const model = await converter.loadGraphModel(handler);
  const bytes = fs.readFileSync(inputRaw);
  const shape = shapeText.split(",").map(Number);
  const Typed = dtype === "int32" ? Int32Array : Float32Array;
  const values = new Typed(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const input = tf.tensor(values, shape, dtype);
  const names = outputsText.split(",");
  let results = await model.executeAsync(input, names);
  if (!Array.isArray(results)) results = [results];
  const out = {};
  names.forEach((name, i) => {
    out[name] = { shape: results[i].shape, values: Array.from(results[i].dataSync()) };
  });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
