{#-
  Incremental strategy `replace_window` (DuckDB): the model's new rows replace a window of
  the existing table. In one transaction it deletes the rows matching any of the model's
  `incremental_predicates` (evaluated on the table before the change) or whose unique_key
  is among the new rows, then inserts the new rows sorted by the model's `sort_by` config (a
  list of columns; DuckDB keeps a table's insertion order). Rows that vanish from the window
  (an order returned or cancelled after it was built) are deleted, which `merge` and
  `delete+insert` would keep.
  With a unique_key and predicates, a row matching the predicates that equals its new row in
  every column is left in place and not inserted again: a build writes only the new and
  changed rows, so its write (and DuckDB's checkpoint of it) follows what changed, not the
  size of the window.
-#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set source = arg_dict['temp_relation'] -%}
  {%- set unique_key = arg_dict['unique_key'] -%}
  {%- set predicates = arg_dict['incremental_predicates'] or [] -%}
  {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
  {%- set columns = get_quoted_csv(names) -%}
  {%- set sort_by = config.get('sort_by') or [] -%}
  {%- if not predicates and not unique_key -%}
    {{ exceptions.raise_compiler_error("incremental_strategy replace_window needs incremental_predicates or a unique_key") }}
  {%- endif -%}
  {%- set in_window -%}
    {% for predicate in predicates %}({{ predicate }}){{ " or " if not loop.last }}{% endfor %}
  {%- endset -%}
  {%- set keep = unique_key and predicates -%}
  {%- if keep -%}
  {%- set unchanged = make_temp_relation(target, '__unchanged') -%}
  {#- the rows of the window equal to their new row (the predicates prune by row-group statistics) -#}
  create or replace temporary table {{ unchanged.identifier }} as
  select built.{{ unique_key }}
  from (select * from {{ target }} where {{ in_window }}) as built
  inner join {{ source }} as new_row
      on new_row.{{ unique_key }} = built.{{ unique_key }}
      {%- for name in names %}
      and new_row.{{ adapter.quote(name) }} is not distinct from built.{{ adapter.quote(name) }}
      {%- endfor %};
  {%- endif %}

  delete from {{ target }}
  where ({{ in_window }}
  {%- if unique_key %}{{ " or " if predicates }}{{ unique_key }} in (select {{ unique_key }} from {{ source }}){% endif %})
  {%- if keep %}
    and {{ unique_key }} not in (select {{ unique_key }} from {{ unchanged.identifier }})
  {%- endif %};

  insert into {{ target }} ({{ columns }})
  select {{ columns }} from {{ source }}
  {%- if keep %}
  where {{ unique_key }} not in (select {{ unique_key }} from {{ unchanged.identifier }})
  {%- endif %}
  {%- if sort_by %}
  order by {{ sort_by | join(', ') }}
  {%- endif %}
  {%- if keep %};

  drop table {{ unchanged.identifier }}
  {%- endif %}
{%- endmacro %}
