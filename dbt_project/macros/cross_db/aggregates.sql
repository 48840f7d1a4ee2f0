{#-
  Aggregate rows into an ordered array of structs.
  fields: list of [field_name, sql_expression] pairs; order_by: a SQL expression.
  DuckDB: STRUCT(...)[]; BigQuery: ARRAY<STRUCT<...>>.
-#}
{% macro array_agg_structs(fields, order_by) -%}
  {{ return(adapter.dispatch('array_agg_structs', 'capi_offline_events')(fields, order_by)) }}
{%- endmacro %}

{% macro default__array_agg_structs(fields, order_by) -%}
  array_agg(struct(
    {%- for name, expression in fields %}
    {{ expression }} as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
  ) order by {{ order_by }})
{%- endmacro %}

{#- DuckDB: sorting the finished list (structs compare field by field, first field first)
    is several times faster than an ordered aggregate, so use it when ordering by the
    first field. -#}
{% macro duckdb__array_agg_structs(fields, order_by) -%}
  {%- set struct -%}
  {
    {%- for name, expression in fields %}
    '{{ name }}': {{ expression }}{{ "," if not loop.last }}
    {%- endfor %}
  }
  {%- endset -%}
  {%- if order_by | trim == fields[0][1] | trim -%}
  list_sort(list({{ struct }}))
  {%- else -%}
  list({{ struct }} order by {{ order_by }})
  {%- endif -%}
{%- endmacro %}

{#- BigQuery: ARRAY_AGG(STRUCT(...) ORDER BY ...), the default. -#}
{% macro bigquery__array_agg_structs(fields, order_by) -%}
  {{ return(default__array_agg_structs(fields, order_by)) }}
{%- endmacro %}


{#- Number of elements of an array (NULL for a NULL array). -#}
{% macro array_length(expression) -%}
  {{ return(adapter.dispatch('array_length', 'capi_offline_events')(expression)) }}
{%- endmacro %}

{% macro default__array_length(expression) -%}
  array_length({{ expression }})
{%- endmacro %}

{% macro duckdb__array_length(expression) -%}
  len({{ expression }})
{%- endmacro %}

{% macro bigquery__array_length(expression) -%}
  {{ return(default__array_length(expression)) }}
{%- endmacro %}
