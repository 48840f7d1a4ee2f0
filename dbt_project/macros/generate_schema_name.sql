{#-
  dbt's default schema naming, plus a guard: nothing this project builds may land in the
  source schema (var source_schema), so `dbt build` can never replace or drop the
  Unified Itemized Transactions or Customer 360 tables. Runs at parse time, so a
  misconfigured target fails before any SQL is executed.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {%- set schema_name = target.schema -%}
  {%- else -%}
    {%- set schema_name = target.schema ~ "_" ~ (custom_schema_name | trim) -%}
  {%- endif -%}
  {%- set source_schema = var('amperity_schema', var('source_schema')) | string -%}
  {%- if (schema_name | lower) == (source_schema | lower)
        and (var('amperity_database', target.database) | string | lower) == (target.database | string | lower) -%}
    {{ exceptions.raise_compiler_error(
        "Target schema '" ~ schema_name ~ "' is the source schema (var amperity_schema or source_schema='"
        ~ source_schema ~ "'): dbt must never write next to the source tables. "
        ~ "Set a different schema in profiles.yml or pass --vars '{source_schema: ...}'.") }}
  {%- endif -%}
  {{ schema_name }}
{%- endmacro %}
