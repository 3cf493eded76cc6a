package main

// A chart's values.schema.json, checked here instead of by Helm. Helm's own check
// (pkg/chart/common/util/jsonschema.go) follows a schema's `$ref` to any file:// path
// and any http(s):// address: in this helper, shared by every tenant, a chart could read
// the helper's own files (/proc/self/fd/…: other tenants' requests with their
// credentials) or reach any address the engine can. And Helm checks before the render's
// watch starts, so a schema whose references multiply (allOf of "#" four times, nested)
// would spin unbounded. So the engine's install and upgrade always ask Helm to skip the
// schema, and the helper checks the same values against the same schemas with the same
// library, following only references inside the schema itself, under the render's
// watch (guard.go). `disableSchemaValidation` in a HelmRelease still skips it.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	ci "helm.sh/helm/v4/pkg/chart"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// schemaURL is where Helm places a chart's schema (its references resolve against it).
const schemaURL = "file:///values.schema.json"

// refused is the loader of every reference outside the schema: none is followed.
type refused struct{}

func (refused) Load(url string) (any, error) {
	return nil, fmt.Errorf("values.schema.json refers to %s: the helm helper follows only references inside the schema", url)
}

// urnTrue keeps Helm's treatment of an unresolved `urn:` reference: a schema that
// accepts anything (Helm's default URNResolver), nothing loaded.
type urnTrue struct{}

func (urnTrue) Load(string) (any, error) {
	return jsonschema.UnmarshalJSON(strings.NewReader("true"))
}

// checkValues is Helm's check of `vals` against the schemas of `chrt` and its
// subcharts, as install and upgrade run it: the dependencies processed (conditions,
// tags, imported values) and the chart's defaults coalesced under the values first.
// `chrt` is this check's own copy (both are changed in place).
func checkValues(chrt ci.Charter, vals map[string]any) error {
	if v2, ok := chrt.(*chart.Chart); ok {
		if err := chartutil.ProcessDependencies(v2, vals); err != nil {
			return err
		}
	}
	coalesced, err := util.CoalesceValues(chrt, vals)
	if err != nil {
		return err
	}
	if err := checkAgainstSchemas(chrt, coalesced); err != nil {
		return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%w", err)
	}
	return nil
}

// checkAgainstSchemas walks the chart and its subcharts as Helm's ValidateAgainstSchema.
func checkAgainstSchemas(ch ci.Charter, values map[string]any) error {
	chrt, err := ci.NewAccessor(ch)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if chrt.Schema() != nil {
		if err := checkAgainstSchema(values, chrt.Schema()); err != nil {
			fmt.Fprintf(&sb, "%s:\n", chrt.Name())
			sb.WriteString(err.Error())
		}
	}
	for _, subchart := range chrt.Dependencies() {
		sub, err := ci.NewAccessor(subchart)
		if err != nil {
			return err
		}
		raw, exists := values[sub.Name()]
		if !exists || raw == nil {
			continue
		}
		subValues, ok := raw.(map[string]any)
		if !ok {
			fmt.Fprintf(&sb, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		if err := checkAgainstSchemas(subchart, subValues); err != nil {
			sb.WriteString(err.Error())
		}
	}
	if sb.Len() > 0 {
		return errors.New(sb.String())
	}
	return nil
}

// checkAgainstSchema is Helm's ValidateAgainstSingleSchema with the loaders replaced.
func checkAgainstSchema(values chartcommon.Values, schemaJSON []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to validate schema: %s", r)
		}
	}()
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return err
	}
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(jsonschema.SchemeURLLoader{
		"file": refused{}, "http": refused{}, "https": refused{}, "urn": urnTrue{},
	})
	if err := compiler.AddResource(schemaURL, schema); err != nil {
		return err
	}
	validator, err := compiler.Compile(schemaURL)
	if err != nil {
		return err
	}
	if err := validator.Validate(values.AsMap()); err != nil {
		// Helm's words (util.JSONSchemaValidationError): without the library's prefix.
		text := strings.TrimPrefix(err.Error(), "jsonschema validation failed with '"+schemaURL+"#'\n")
		return errors.New(text + "\n")
	}
	return nil
}
