//! PostgreSQL types to Rust types, as sqlx maps them: `[codegen.types]` overrides first,
//! then enums (generated), domains (by their base type), then the built-in and extension
//! types sqlx knows.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, ColumnType, TypeKind};
use crate::config::{Codegen, DateTimeCrate};

use super::CodegenError;

/// A Rust type for a column, and whether it implements serde's traits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustType {
    pub path: String,
    pub serde: bool,
}

impl RustType {
    fn new(path: &str, serde: bool) -> RustType {
        RustType {
            path: path.to_string(),
            serde,
        }
    }
}

/// Maps column types of one catalog under one configuration.
pub struct TypeMapper<'a> {
    catalog: &'a Catalog,
    options: &'a Codegen,
    /// (schema, name) of each enum -> its generated Rust name.
    enum_names: &'a BTreeMap<(String, String), String>,
    /// (schema, name) of each composite type that has a struct -> the struct's name.
    composite_names: &'a BTreeMap<(String, String), String>,
}

impl<'a> TypeMapper<'a> {
    pub fn new(
        catalog: &'a Catalog,
        options: &'a Codegen,
        enum_names: &'a BTreeMap<(String, String), String>,
        composite_names: &'a BTreeMap<(String, String), String>,
    ) -> TypeMapper<'a> {
        TypeMapper {
            catalog,
            options,
            enum_names,
            composite_names,
        }
    }

    /// The Rust type of `ty`, not counting nullability; `column` (`table.column`) names the
    /// column in errors.
    pub fn map(&self, column: &str, ty: &ColumnType) -> Result<RustType, CodegenError> {
        let element = self.element(column, ty, ty.dims)?;
        if self.options.serde && !element.0.serde {
            return Err(CodegenError::NoSerde {
                column: column.to_string(),
                sql_type: ty.sql.clone(),
                rust_type: element.0.path.clone(),
                type_name: ty.name.clone(),
            });
        }
        let (mut rust, dims) = element;
        match dims {
            0 => {}
            1 => {
                // sqlx decodes citext[] only into its wrapper type, not String.
                if ty.name == "citext" && rust.path == "String" {
                    rust.path = "sqlx::postgres::types::PgCiText".into();
                    rust.serde = false;
                }
                rust.path = if self.options.nullable_array_elements {
                    format!("Vec<Option<{}>>", rust.path)
                } else {
                    format!("Vec<{}>", rust.path)
                };
            }
            _ => {
                return Err(CodegenError::MultiDimensional {
                    column: column.to_string(),
                    sql_type: ty.sql.clone(),
                    dims,
                })
            }
        }
        Ok(rust)
    }

    /// The element type and the total array dimensions (a domain over an array adds its
    /// own dimensions to the column's).
    fn element(
        &self,
        column: &str,
        ty: &ColumnType,
        dims: u32,
    ) -> Result<(RustType, u32), CodegenError> {
        let types = &self.options.types;
        let qualified = format!("{}.{}", ty.schema, ty.name);
        if let Some(path) = types.get(&qualified).or_else(|| types.get(&ty.name)) {
            return Ok((RustType::new(path, true), dims));
        }
        match ty.kind {
            TypeKind::Enum => {
                if let Some(name) = self.enum_names.get(&(ty.schema.clone(), ty.name.clone())) {
                    return Ok((RustType::new(name, true), dims));
                }
            }
            TypeKind::Composite => {
                let key = (ty.schema.clone(), ty.name.clone());
                if let Some(name) = self.composite_names.get(&key) {
                    return Ok((RustType::new(name, true), dims));
                }
            }
            TypeKind::Domain => {
                // PostgreSQL reports a scalar domain as its base type, but an array of a
                // domain as the domain's own array type, which no built-in mapping accepts.
                if dims > 0 {
                    return Err(CodegenError::DomainArray {
                        column: column.to_string(),
                        sql_type: ty.sql.clone(),
                        base_array: self.base_array(ty),
                        type_name: ty.name.clone(),
                    });
                }
                if let Some(domain) = self.catalog.find_domain(&ty.schema, &ty.name) {
                    return self.element(column, &domain.base, dims + domain.base.dims);
                }
            }
            TypeKind::Base | TypeKind::Range => {
                if let Some(rust) = self.builtin(ty) {
                    return Ok((rust, dims));
                }
            }
            _ => {}
        }
        Err(CodegenError::UnknownType {
            column: column.to_string(),
            sql_type: ty.sql.clone(),
            type_name: ty.name.clone(),
        })
    }

    /// The SQL array type under a chain of domains: `integer[]` for `rating[]`.
    fn base_array(&self, ty: &ColumnType) -> String {
        let mut base = ty;
        while base.kind == TypeKind::Domain {
            match self.catalog.find_domain(&base.schema, &base.name) {
                Some(domain) => base = &domain.base,
                None => break,
            }
        }
        let sql = base.sql.trim_end_matches("[]");
        format!(
            "{sql}{}",
            "[]".repeat(ty.dims.max(1) as usize + base.dims as usize)
        )
    }

    fn builtin(&self, ty: &ColumnType) -> Option<RustType> {
        let chrono = self.options.datetime == DateTimeCrate::Chrono;
        // sqlx's re-exports (`sqlx::types::...`) rather than the crates themselves, so the
        // bindings name exactly the versions sqlx implements its traits for, whatever
        // versions the application depends on, and need no dependency but sqlx.
        let pick = |c: &str, t: &str| if chrono { c.to_string() } else { t.to_string() };
        let date = pick("sqlx::types::chrono::NaiveDate", "sqlx::types::time::Date");
        let timestamp = pick(
            "sqlx::types::chrono::NaiveDateTime",
            "sqlx::types::time::PrimitiveDateTime",
        );
        let timestamptz = pick(
            "sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>",
            "sqlx::types::time::OffsetDateTime",
        );
        let sqlx = |name: &str, serde: bool| {
            Some(RustType::new(
                &format!("sqlx::postgres::types::{name}"),
                serde,
            ))
        };
        // Extension types live in whatever schema the extension was installed into.
        match ty.name.as_str() {
            "citext" => return Some(RustType::new("String", true)),
            "hstore" => return sqlx("PgHstore", true),
            "ltree" => return sqlx("PgLTree", false),
            "lquery" => return sqlx("PgLQuery", false),
            "cube" => return sqlx("PgCube", false),
            _ => {}
        }
        if ty.schema != "pg_catalog" {
            return None;
        }
        let plain = |path: &str| Some(RustType::new(path, true));
        match ty.name.as_str() {
            "bool" => plain("bool"),
            "char" => plain("i8"),
            "int2" => plain("i16"),
            "int4" => plain("i32"),
            "int8" => plain("i64"),
            "float4" => plain("f32"),
            "float8" => plain("f64"),
            "numeric" => plain("sqlx::types::Decimal"),
            "oid" => sqlx("Oid", true),
            "money" => sqlx("PgMoney", false),
            "text" | "varchar" | "bpchar" | "name" => plain("String"),
            "bytea" => plain("Vec<u8>"),
            "uuid" => plain("sqlx::types::Uuid"),
            "json" | "jsonb" => plain("sqlx::types::JsonValue"),
            "date" => plain(&date),
            "time" => plain(&pick(
                "sqlx::types::chrono::NaiveTime",
                "sqlx::types::time::Time",
            )),
            "timetz" => sqlx(
                &pick(
                    "PgTimeTz<sqlx::types::chrono::NaiveTime, sqlx::types::chrono::FixedOffset>",
                    "PgTimeTz<sqlx::types::time::Time, sqlx::types::time::UtcOffset>",
                ),
                false,
            ),
            "timestamp" => plain(&timestamp),
            "timestamptz" => plain(&timestamptz),
            "interval" => sqlx("PgInterval", false),
            "inet" | "cidr" => plain("sqlx::types::ipnetwork::IpNetwork"),
            "bit" | "varbit" => Some(RustType::new("sqlx::types::BitVec", false)),
            "point" => sqlx("PgPoint", false),
            "line" => sqlx("PgLine", false),
            "lseg" => sqlx("PgLSeg", false),
            "box" => sqlx("PgBox", false),
            "path" => sqlx("PgPath", false),
            "polygon" => sqlx("PgPolygon", false),
            "circle" => sqlx("PgCircle", false),
            "int4range" => sqlx("PgRange<i32>", false),
            "int8range" => sqlx("PgRange<i64>", false),
            "numrange" => sqlx("PgRange<sqlx::types::Decimal>", false),
            "daterange" => sqlx(&format!("PgRange<{date}>"), false),
            "tsrange" => sqlx(&format!("PgRange<{timestamp}>"), false),
            "tstzrange" => sqlx(&format!("PgRange<{timestamptz}>"), false),
            _ => None,
        }
    }
}
