-- One line per object of the credential_vault extension, with its definition, grants and comment
-- (and the triggers on its tables, which are not members of it),
-- by name (never by oid): an updated database and a fresh install must print the same lines.
select pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
       || coalesce(' ' || md5(pg_catalog.pg_get_functiondef(p.oid)), '')
       || coalesce(' acl=' || (select string_agg(a::text, ',' order by a::text)
                               from unnest(coalesce(p.proacl, c.relacl)) a), '')
       || coalesce(' comment=' || pg_catalog.obj_description(d.objid, d.classid::regclass::text), '')
from pg_catalog.pg_depend d
left join pg_catalog.pg_proc p on d.classid = 'pg_catalog.pg_proc'::regclass and p.oid = d.objid
left join pg_catalog.pg_class c on d.classid = 'pg_catalog.pg_class'::regclass and c.oid = d.objid
where d.refclassid = 'pg_catalog.pg_extension'::regclass and d.deptype = 'e'
  and d.refobjid = (select oid from pg_catalog.pg_extension where extname = 'credential_vault')
union all
select format('column %s.%s %s notnull=%s default=%s', a.attrelid::regclass, a.attname,
              pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
from pg_catalog.pg_attribute a
join pg_catalog.pg_class c on c.oid = a.attrelid
left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
where c.relnamespace = 'credential_vault'::regnamespace and a.attnum > 0 and not a.attisdropped
union all
select format('constraint %s %s %s', conrelid::regclass, conname, pg_catalog.pg_get_constraintdef(oid))
from pg_catalog.pg_constraint where connamespace = 'credential_vault'::regnamespace
union all
select format('index %s', pg_catalog.pg_get_indexdef(indexrelid))
from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indrelid
where c.relnamespace = 'credential_vault'::regnamespace
union all
select format('trigger %s', pg_catalog.pg_get_triggerdef(t.oid))
from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
where c.relnamespace = 'credential_vault'::regnamespace and not t.tgisinternal
union all
select 'dumped with pg_dump: ' || string_agg(t::regclass::text, ', ' order by t::regclass::text)
from pg_catalog.pg_extension e, unnest(e.extconfig) t where e.extname = 'credential_vault'
order by 1;
