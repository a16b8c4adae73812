#!/usr/bin/env node
// Parses every .ics file under a directory with ical.js (Mozilla's iCalendar parser, the one
// Thunderbird uses): the second independent reader of the .ics files the tests write
// (INVITOKEN_ICS_OUT), beside scripts/check_ics.py (Python's icalendar).
//
// Every file must parse, and every property value of every component must decode (dates,
// durations, recurrence rules, URIs): ical.js decodes values lazily, so a plain parse would
// let a bad value through. Exits 1 listing the files that fail, or when the directory holds
// no .ics file at all; exits 2 on a usage error.
//
// As in check_ics.py, `NAME.ics.source` beside a file names the file it was made from: when
// both fail with the very same error, the fault is in the source data, and the file is listed
// as excused, not failed.
//
//     npm ci --prefix scripts/icaljs && node scripts/check_ics.mjs DIR

import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(join(import.meta.dirname, "icaljs", "package.json"));
let ICAL;
try {
  ICAL = (await import(require.resolve("ical.js"))).default;
} catch {
  console.error("error: ical.js is missing: npm ci --prefix scripts/icaljs");
  process.exit(2);
}

/** The error ical.js reports for `text`, or null when it reads it whole. */
function parseError(text) {
  try {
    let parsed = ICAL.parse(text);
    // Several calendars in one file come back as a list of them.
    const roots = typeof parsed[0] === "string" ? [parsed] : parsed;
    if (roots.length === 0) return "no component in it";
    for (const jcal of roots) {
      const root = new ICAL.Component(jcal);
      if (root.name !== "vcalendar") return `top-level component ${root.name}, not VCALENDAR`;
      walk(root);
    }
  } catch (e) {
    return `${e?.name ?? "Error"}: ${e?.message ?? e}`;
  }
  return null;
}

/** Decodes every value of every property of `component` and below (ical.js is lazy). */
function walk(component) {
  for (const prop of component.getAllProperties()) {
    for (const value of prop.getValues()) {
      if (value && typeof value.toString === "function") value.toString();
    }
  }
  if (component.name === "vevent") new ICAL.Event(component);
  for (const sub of component.getAllSubcomponents()) walk(sub);
}

function* icsFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) yield* icsFiles(path);
    else if (st.isFile() && name.toLowerCase().endsWith(".ics")) yield path;
  }
}

const [, , root, ...rest] = process.argv;
if (!root || rest.length) {
  console.error("usage: check_ics.mjs DIR");
  process.exit(2);
}
if (!existsSync(root) || !statSync(root).isDirectory()) {
  console.error(`error: ${root} is not a directory`);
  process.exit(1);
}
const files = [...icsFiles(root)];
if (files.length === 0) {
  console.error(`error: no .ics file under ${root}: nothing was checked`);
  process.exit(1);
}
const failed = [];
const excused = [];
for (const path of files) {
  const error = parseError(readFileSync(path, "utf8"));
  if (error === null) continue;
  const sidecar = `${path}.source`;
  if (existsSync(sidecar)) {
    const source = readFileSync(sidecar, "utf8").trim();
    if (existsSync(source) && parseError(readFileSync(source, "utf8")) === error) {
      excused.push([path, source, error]);
      continue;
    }
  }
  failed.push([path, error]);
}
for (const [path, source, error] of excused) {
  console.log(`excused: ${path}: ${error} (its source ${source} fails alike)`);
}
for (const [path, error] of failed) console.error(`error: ${path}: ${error}`);
const version = JSON.parse(
  readFileSync(join(import.meta.dirname, "icaljs", "node_modules", "ical.js", "package.json"), "utf8"),
).version;
console.log(
  `check_ics.mjs: ${files.length} file(s) under ${root}: ` +
    `${files.length - failed.length - excused.length} parsed, ${excused.length} excused ` +
    `(their source fails alike), ${failed.length} failed (ical.js ${version})`,
);
process.exit(failed.length ? 1 : 0);
