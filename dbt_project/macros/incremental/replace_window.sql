{#-
  Incremental strategy `replace_window` (DuckDB): the model's new rows replace a window of
  the existing table. In one transaction it deletes the rows matching any of the model's
  `incremental_predicates` (evaluated on the table before the change) or whose unique_key
  is among the new rows, then inserts the new rows in the order the model's SQL gives them
  (DuckDB keeps a table's insertion order). Rows that vanish from the window (an order returned or cancelled
  after it was built) are deleted, which `merge` and `delete+insert` would keep.
-#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set source = arg_dict['temp_relation'] -%}
  {%- set unique_key = arg_dict['unique_key'] -%}
  {%- set predicates = arg_dict['incremental_predicates'] or [] -%}
  {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
  {%- if not predicates and not unique_key -%}
    {{ exceptions.raise_compiler_error("incremental_strategy replace_window needs incremental_predicates or a unique_key") }}
  {%- endif -%}
  delete from {{ target }}
  where {% for predicate in predicates %}({{ predicate }}){{ " or " if not loop.last }}{% endfor %}
  {%- if unique_key %}{{ " or " if predicates }}{{ unique_key }} in (select {{ unique_key }} from {{ source }}){% endif %};

  insert into {{ target }} ({{ columns }})
  select {{ columns }} from {{ source }}
{%- endmacro %}
