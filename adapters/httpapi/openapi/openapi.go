// Package openapi holds the hand-written OpenAPI 3.1 document of the REST
// API v1, served at /openapi.json.
package openapi

import _ "embed"

// Document is the OpenAPI document (JSON).
//
//go:embed openapi.json
var Document []byte
