// Package sdkjs holds the browser bundle of the JavaScript SDK
// (@presenced/client), built from src/ by `npm run build` and committed, so
// that the server embeds it and `go build` needs no Node. A check run by
// `make test` fails when the committed bundle differs from a fresh build.
package sdkjs

import _ "embed"

// Bundle is dist/presenced.js: one minified ES module.
//
//go:embed dist/presenced.js
var Bundle []byte
