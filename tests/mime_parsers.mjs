// Read .eml files with two npm parsers, print JSON: tests/test_mime_parsers.py runs it.
//
// `node tests/mime_parsers.mjs PREFIX FILE…`: PREFIX is the npm prefix holding postal-mime and
// mailparser (.ci/run installs them under .venv/mimeparsers). One JSON object a file, in order:
// for each parser what it decodes (Subject, From, To, List-Id, List-Unsubscribe(-Post), the
// text and HTML bodies) and every warning or error it printed or raised.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.argv[2].replace(/\/?$/, "/"));
const PostalMime = require("postal-mime");
const { simpleParser } = require("mailparser");

const warnings = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => warnings.push(`console.${level}: ${args.join(" ")}`);
}

async function postal(raw) {
  const mail = await PostalMime.parse(raw);
  const header = (key) => {
    const found = mail.headers.filter((h) => h.key === key);
    return found.length === 1 ? found[0].value : found.map((h) => h.value);
  };
  return {
    subject: mail.subject,
    from: [mail.from].map(({ name, address }) => ({ name, address })),
    to: mail.to.map(({ name, address }) => ({ name, address })),
    // postal-mime leaves List-* values raw; its own decodeWords reads the phrase.
    list_id: PostalMime.decodeWords(header("list-id")),
    list_unsubscribe: header("list-unsubscribe"),
    list_unsubscribe_post: header("list-unsubscribe-post"),
    text: mail.text,
    html: mail.html,
  };
}

async function mailparser(raw) {
  const mail = await simpleParser(raw);
  const list = mail.headers.get("list") || {};
  return {
    subject: mail.subject,
    from: mail.from.value.map(({ name, address }) => ({ name, address })),
    to: mail.to.value.map(({ name, address }) => ({ name, address })),
    list_id: list.id || null,
    list_unsubscribe: list.unsubscribe || null,
    list_unsubscribe_post: list["unsubscribe-post"] || null,
    text: mail.text,
    html: mail.html,
  };
}

const out = [];
for (const path of process.argv.slice(3)) {
  const raw = readFileSync(path);
  const read = { file: path };
  for (const [name, parse] of [["postal-mime", postal], ["mailparser", mailparser]]) {
    warnings.length = 0;
    try {
      read[name] = await parse(raw);
    } catch (error) {
      read[name] = null;
      warnings.push(`${name} failed: ${error}`);
    }
    read[name + " warnings"] = [...warnings];
  }
  out.push(read);
}
process.stdout.write(JSON.stringify(out));
