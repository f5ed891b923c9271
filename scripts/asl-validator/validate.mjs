// Validate Amazon States Language definitions with AWS's own ASL language service
// (npm amazon-states-language-service, the validator behind AWS's editor tooling for Step Functions:
// https://docs.aws.amazon.com/toolkit-for-vscode/latest/userguide/bulding-stepfunctions.html).
//
// Input, either:
//   node validate.mjs FILE...            each file is one definition (JSON)
//   node validate.mjs < defs.json        a JSON object {"<name>": "<definition text>", ...}
//   node validate.mjs --serve            one such JSON object per stdin line, one answer per line
//                                        (a long-lived process: no start-up cost per request)
// Output (stdout): one JSON object {"<name>": [diagnostic, ...], ...}; a diagnostic is
//   {"severity": "error"|"warning"|"information"|"hint", "message", "line", "character", "text", "source"}
// (line and character 1-based, text = the source text the diagnostic points at). Exit 0 when the
// service ran (whatever it found), 2 on a usage or input error (--serve answers {"error": "..."}).
// The caller decides what fails.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { getLanguageService } from "amazon-states-language-service";
import { TextDocument } from "vscode-languageserver-textdocument";

const SEVERITY = { 1: "error", 2: "warning", 3: "information", 4: "hint" };

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function inputs(argv) {
  if (argv.length > 0) {
    return Object.fromEntries(argv.map((path) => [path, readFileSync(path, "utf8")]));
  }
  if (process.stdin.isTTY) {
    throw new Error("give definition files as arguments, or a JSON object {name: text} on stdin");
  }
  return JSON.parse(await readStdin());
}

function checkRequest(parsed) {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("the input must be a JSON object mapping a name to a definition's text");
  }
  for (const [name, text] of Object.entries(parsed)) {
    if (typeof text !== "string") throw new Error(`${name}: the definition must be a string`);
  }
  return parsed;
}

async function validateAll(service, definitions) {
  const results = {};
  for (const [name, text] of Object.entries(definitions)) {
    const document = TextDocument.create(`file:///${encodeURIComponent(name)}.asl.json`, "json", 1, text);
    const diagnostics = await service.doValidation(document, service.parseJSONDocument(document));
    results[name] = diagnostics.map((d) => ({
      severity: SEVERITY[d.severity] ?? "error",
      message: d.message,
      line: d.range.start.line + 1,
      character: d.range.start.character + 1,
      text: document.getText(d.range).slice(0, 120),
      source: d.source ?? "",
    }));
  }
  return results;
}

async function serve(service) {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await validateAll(service, checkRequest(JSON.parse(line)));
    } catch (err) {
      answer = { error: err.message };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
}

async function main() {
  const service = getLanguageService({});
  if (process.argv[2] === "--serve") {
    await serve(service);
    return;
  }
  let definitions;
  try {
    definitions = checkRequest(await inputs(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`asl-validator: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(await validateAll(service, definitions)) + "\n");
}

await main();
