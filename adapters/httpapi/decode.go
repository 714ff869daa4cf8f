package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"
)

// readBody reads the whole request body. The body is already bounded by
// limitBody, so an oversized body surfaces as *http.MaxBytesError (413).
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, err
	case err != nil:
		// The client broke off mid-body: its fault, not ours.
		return nil, badRequest(errMalformedJSON, "", "the request body could not be read completely")
	}
	return b, nil
}

// decodeBody strictly decodes the request body, which must be exactly one
// JSON value, into v.
func decodeBody(c echo.Context, v any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, and names the offending field in its errors.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(errMalformedJSON, "", "the body must hold a single JSON value")
	}
	return nil
}

// readOnlyFields are output-only fields of the resources: sending one is
// refused with a clearer message than "unknown field".
var readOnlyFields = map[string]bool{
	"id": true, "workspaceId": true, "version": true, "createdAt": true, "updatedAt": true,
	"walletStatus": true, "appleWalletInstalledAt": true, "googleWalletInstalledAt": true,
	"walletLastChangedAt": true, "walletLastEvent": true,
}

// jsonError translates encoding/json's errors into request errors that
// name the field.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest(errMalformedJSON, "", "the request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(errMalformedJSON, "", "the JSON body ends unexpectedly")
	case errors.As(err, &syn):
		return badRequest(errMalformedJSON, "", fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error()))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest(errWrongType, "", fmt.Sprintf("the body must be %s, not %s", jsonTypeName(typ.Type), typ.Value))
		}
		return badRequest(errWrongType, typ.Field, fmt.Sprintf("%s must be %s, not %s", typ.Field, jsonTypeName(typ.Type), typ.Value))
	}
	// encoding/json has no type for this one; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if readOnlyFields[name] {
			return badRequest(errReadOnlyField, name, name+" is read-only")
		}
		return badRequest(errUnknownField, name, fmt.Sprintf("unknown field %q", name))
	}
	return badRequest(errMalformedJSON, "", "malformed JSON: "+err.Error())
}

// jsonTypeName says which JSON type a Go type decodes from.
func jsonTypeName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// isJSONMediaType accepts application/json and any +json type
// (application/merge-patch+json for PATCH).
func isJSONMediaType(header string) bool {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
