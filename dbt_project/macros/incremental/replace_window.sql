{#-
  Incremental strategy `replace_window` (DuckDB): the model's new rows replace a window of
  the existing table. In one transaction it deletes the rows matching any of the model's
  `incremental_predicates` (evaluated on the table before the change) or whose unique_key
  is among the new rows, then inserts the new rows sorted by the model's `sort_by` config (a list of
  columns; DuckDB keeps a table's insertion order). Rows that vanish from the window (an order returned or cancelled
  after it was built) are deleted, which `merge` and `delete+insert` would keep.
  With a unique_key, a row of the window equal to its new row in every column is left in
  place and not inserted again: a build writes only the new and changed rows, so its write
  (and DuckDB's checkpoint of it) follows what changed, not the size of the window.
-#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set source = arg_dict['temp_relation'] -%}
  {%- set unique_key = arg_dict['unique_key'] -%}
  {%- set predicates = arg_dict['incremental_predicates'] or [] -%}
  {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
  {%- set columns = get_quoted_csv(names) -%}
  {%- if not predicates and not unique_key -%}
    {{ exceptions.raise_compiler_error("incremental_strategy replace_window needs incremental_predicates or a unique_key") }}
  {%- endif -%}
  delete from {{ target }}
  where ({% for predicate in predicates %}({{ predicate }}){{ " or " if not loop.last }}{% endfor %}
  {%- if unique_key %}{{ " or " if predicates }}{{ unique_key }} in (select {{ unique_key }} from {{ source }}){% endif %})
  {%- if unique_key %}
    and not exists (
        select 1 from {{ source }} as new_row
        where new_row.{{ unique_key }} = {{ target }}.{{ unique_key }}
        {%- for name in names %}
          and new_row.{{ adapter.quote(name) }} is not distinct from {{ target }}.{{ adapter.quote(name) }}
        {%- endfor %}
    )
  {%- endif %};

  insert into {{ target }} ({{ columns }})
  select {{ columns }} from {{ source }}
  {%- if unique_key %}
  where not exists (select 1 from {{ target }} as kept where kept.{{ unique_key }} = {{ source }}.{{ unique_key }})
  {%- endif %}
  {%- if config.get('sort_by') %}
  order by {{ config.get('sort_by') | join(', ') }}
  {%- endif %}
{%- endmacro %}
