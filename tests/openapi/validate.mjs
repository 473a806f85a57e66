// Checks that the OpenAPI document is valid OpenAPI 3.1 (make openapi).
// usage: node tests/openapi/validate.mjs docs/openapi.yaml
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2] ?? "docs/openapi.yaml";
const validator = new Validator();
const res = await validator.validate(file);
if (!res.valid) {
  console.error(`${file}: not a valid OpenAPI document`);
  console.error(JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
if (!String(validator.version).startsWith("3.1")) {
  console.error(`${file}: OpenAPI ${validator.version}, expected 3.1`);
  process.exit(1);
}
console.log(`${file}: valid OpenAPI ${validator.version}`);
