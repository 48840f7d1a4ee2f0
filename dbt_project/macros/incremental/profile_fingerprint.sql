{#- A hash of a customer's raw profile columns (NULLs included, unambiguously): the
    customer models re-normalize and re-hash only the customers whose fingerprint changed
    (docs/warehouse.md). Lowercase hex MD5; a change detector, not a secret. -#}
{% macro profile_fingerprint(columns) -%}
  {{ return(adapter.dispatch('profile_fingerprint', 'capi_offline_events')(columns)) }}
{%- endmacro %}

{% macro default__profile_fingerprint(columns) -%}
  md5(to_json([{% for c in columns %}cast({{ c }} as varchar){{ ", " if not loop.last }}{% endfor %}]))
{%- endmacro %}

{% macro bigquery__profile_fingerprint(columns) -%}
  to_hex(md5(to_json_string(struct({% for c in columns %}cast({{ c }} as string) as {{ c.split('.')[-1] }}{{ ", " if not loop.last }}{% endfor %}))))
{%- endmacro %}


{#- Config of a customer model bounded by what changed: incremental on DuckDB (delete+insert
    on amperity_id), a table on BigQuery (docs/warehouse.md says why). -#}
{% macro customer_model_materialization() -%}
  {{ return('table' if target.type == 'bigquery' else 'incremental') }}
{%- endmacro %}


{#- How a customer model's rows are stored: on DuckDB in amperity_id order, so the first build
    writes full row groups (a parallel insert leaves a part-filled one among them, and the
    checkpoint after the next build's few new customers then merges and rewrites every row
    group from there on: 2.2 s at 400,000 customers, bench/findings.md); nothing on BigQuery. -#}
{% macro customer_model_order() -%}
  {{ return('' if target.type == 'bigquery' else 'order by amperity_id') }}
{%- endmacro %}


{#- On an incremental build: only the rows of `relation_alias` whose profile_fingerprint
    differs from the one already built for that customer (new customers included). -#}
{% macro changed_profiles(relation_alias) -%}
  {%- if this is not none and is_incremental() -%}
    not exists (
        select 1 from {{ this }} as built
        where built.amperity_id is not distinct from {{ relation_alias }}.amperity_id
          and built.profile_fingerprint = {{ relation_alias }}.profile_fingerprint
    )
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro %}
