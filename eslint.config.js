// ESLint (flat config) with typescript-eslint's type-aware rules: the ones that catch real defects in an
// async service (floating or misused promises, awaiting non-promises), on top of the recommended sets.
// Formatting is Prettier's job (`npm run format`), so no stylistic rules live here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["gen/**", "dist/**", "node_modules/**", "test-results/**", "bench/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
);
