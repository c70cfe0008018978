// node --test clients/js/ — the README shows the clients in full: its copies must be the files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");

for (const file of ["authFetch.js", "axiosRenewal.js", "tokenStore.js"]) {
  test(`README shows ${file} as it is`, async () => {
    const source = (await readFile(new URL(file, import.meta.url), "utf8")).trimEnd();
    assert.ok(readme.includes("```js\n" + source + "\n```"), `README's copy of clients/js/${file} differs from the file`);
  });
}
