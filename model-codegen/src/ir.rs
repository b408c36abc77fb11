//! The intermediate representation (IR) between a spec and generated code.
//!
//! [`crate::spec::load_dir`] turns a `spec/` directory into a [`Model`]; the
//! emitters in [`crate::emit`] turn a [`Model`] into tokens. Everything the
//! emitters need is resolved here: inheritance is flattened, every XML tag name
//! and every HTTP detail is spelled out, so emitters never derive a wire name
//! from a model name.
//!
//! Names (`name` fields) are model names: lower-case words joined by `_`
//! (`vm_pool`, `disk_attachments`). Rust identifiers are made from them by
//! [`crate::naming`].

/// A whole API: types and services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Primitive type declarations (model name -> kind), in spec order.
    pub primitives: Vec<PrimitiveDecl>,
    /// Struct types, in spec order.
    pub structs: Vec<StructType>,
    /// Enum types, in spec order.
    pub enums: Vec<EnumType>,
    /// Services, in spec order.
    pub services: Vec<Service>,
    /// Name of the root service (the service whose path is the API entry URL).
    pub root_service: Option<String>,
    /// Name of the struct used as the envelope of action requests and responses
    /// (oVirt: `action`, docs/wire.md R1.5).
    pub action_type: Option<String>,
    /// Name of the struct used as the error document (oVirt: `fault`, R4.1).
    pub fault_type: Option<String>,
}

impl Model {
    /// The struct named `name`.
    pub fn struct_type(&self, name: &str) -> Option<&StructType> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The enum named `name`.
    pub fn enum_type(&self, name: &str) -> Option<&EnumType> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Counts of what the model contains (flattened members, methods, locators).
    pub fn counts(&self) -> Counts {
        Counts {
            structs: self.structs.len(),
            enums: self.enums.len(),
            enum_values: self.enums.iter().map(|e| e.values.len()).sum(),
            attributes: self
                .structs
                .iter()
                .flat_map(|s| &s.members)
                .filter(|m| m.kind == MemberKind::Attribute)
                .count(),
            links: self
                .structs
                .iter()
                .flat_map(|s| &s.members)
                .filter(|m| m.kind == MemberKind::Link)
                .count(),
            services: self.services.len(),
            methods: self.services.iter().map(|s| s.methods.len()).sum(),
            locators: self.services.iter().map(|s| s.locators.len()).sum(),
        }
    }
}

/// Numbers of things in a [`Model`] (members, methods and locators flattened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Struct types.
    pub structs: usize,
    /// Enum types.
    pub enums: usize,
    /// Enum values over all enums.
    pub enum_values: usize,
    /// Struct attributes (inherited ones counted in every struct).
    pub attributes: usize,
    /// Struct links (inherited ones counted in every struct).
    pub links: usize,
    /// Services.
    pub services: usize,
    /// Methods (inherited ones counted in every service).
    pub methods: usize,
    /// Locators (inherited ones counted in every service).
    pub locators: usize,
}

/// The built-in primitive kinds a spec can map its primitive names to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Primitive {
    /// `true` / `false`.
    Boolean,
    /// Signed integer, `i64` in Rust.
    Integer,
    /// Decimal number, `f64` in Rust.
    Decimal,
    /// Date and time.
    Date,
    /// Text.
    String,
}

impl Primitive {
    /// The kind's name in the spec format (`boolean`, `integer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Primitive::Boolean => "boolean",
            Primitive::Integer => "integer",
            Primitive::Decimal => "decimal",
            Primitive::Date => "date",
            Primitive::String => "string",
        }
    }

    /// Parses a kind name of the spec format.
    pub fn from_name(s: &str) -> Option<Primitive> {
        Some(match s {
            "boolean" => Primitive::Boolean,
            "integer" => Primitive::Integer,
            "decimal" => Primitive::Decimal,
            "date" => Primitive::Date,
            "string" => Primitive::String,
            _ => return None,
        })
    }
}

/// A primitive type name of the spec and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimitiveDecl {
    /// Model name (`integer`).
    pub name: String,
    /// What it maps to.
    pub kind: Primitive,
}

/// What a type reference points at (without the list-ness).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// A primitive.
    Primitive(Primitive),
    /// A struct, by model name.
    Struct(String),
    /// An enum, by model name.
    Enum(String),
}

/// A reference to a type, as used by members and parameters: `vm`, `vm[]`, `string`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeRef {
    /// The element type.
    pub kind: TypeKind,
    /// `true` for a list (`x[]` in the spec).
    pub list: bool,
}

impl TypeRef {
    /// Name of the struct this refers to (element type for lists), if a struct.
    pub fn struct_name(&self) -> Option<&str> {
        match &self.kind {
            TypeKind::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Name of the enum this refers to (element type for lists), if an enum.
    pub fn enum_name(&self) -> Option<&str> {
        match &self.kind {
            TypeKind::Enum(s) => Some(s),
            _ => None,
        }
    }

    /// The primitive this refers to (element type for lists), if a primitive.
    pub fn primitive(&self) -> Option<Primitive> {
        match &self.kind {
            TypeKind::Primitive(p) => Some(*p),
            _ => None,
        }
    }

    /// `true` if the element type is a primitive or an enum (written as text).
    pub fn is_scalar(&self) -> bool {
        !matches!(self.kind, TypeKind::Struct(_))
    }
}

/// Annotations carried over from the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Marked deprecated.
    pub deprecated: bool,
    /// Version the item appeared in (`4.1`), if known.
    pub since: Option<String>,
}

/// A struct type with all members flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructType {
    /// Model name (`vm`).
    pub name: String,
    /// Base struct, if any (`vm_base`). Its members are already in `members`.
    pub base: Option<String>,
    /// Element name of a single-object document of this type (docs/wire.md R3.2): `vm`, `brick`.
    pub tag: String,
    /// Element name of a list document of this type (R3.2, R3.3): `vms`, `bricks`.
    pub list_tag: String,
    /// Other root element names a reader accepts for a list document of this type
    /// (documents in the wild spell `operation_systems` as `operating_systems`).
    pub list_tag_aliases: Vec<String>,
    /// Every member, inherited ones included: attributes first (own, then
    /// inherited), then links (inherited, then own), as in the model.
    pub members: Vec<Member>,
    /// Annotations.
    pub annotations: Annotations,
}

/// Whether a member is an attribute or a link of its struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A value that belongs to the object.
    Attribute,
    /// A reference to other objects; list links may travel as `<link rel href>` (R3.6).
    Link,
}

/// How a member travels in XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlName {
    /// Element name (or XML attribute name when `as_attribute`): `T(member name)`.
    pub tag: String,
    /// For lists: the element name of each item (R3.2). `None` for non-lists.
    pub item_tag: Option<String>,
    /// `true` when the member is an XML attribute of its parent element (R3.4, `id`).
    pub as_attribute: bool,
    /// For list links: the `rel` of the `<link rel=".." href=".."/>` element
    /// that announces the list (R3.6).
    pub rel: Option<String>,
}

/// One attribute or link of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Model name (`status`, `disk_attachments`).
    pub name: String,
    /// Attribute or link.
    pub kind: MemberKind,
    /// Type.
    pub ty: TypeRef,
    /// XML naming.
    pub xml: XmlName,
    /// Struct that declares the member (the struct itself unless inherited).
    pub declared_in: String,
    /// Annotations.
    pub annotations: Annotations,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    /// Model name (`vm_status`).
    pub name: String,
    /// Values, in spec order.
    pub values: Vec<EnumValue>,
    /// Annotations.
    pub annotations: Annotations,
}

/// One value of an enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    /// Model name (`up`, `x86_64`).
    pub name: String,
    /// Text on the wire (R3.9).
    pub wire: String,
    /// Annotations.
    pub annotations: Annotations,
}

/// A service with inherited methods and locators flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Model name (`vms`, `vm`).
    pub name: String,
    /// Base service, if any. Its methods and locators are already included.
    pub base: Option<String>,
    /// Methods: inherited first, then own (model order).
    pub methods: Vec<Method>,
    /// Locators: inherited first, then own (model order).
    pub locators: Vec<Locator>,
    /// Annotations.
    pub annotations: Annotations,
}

/// What a method does, which decides the shape of its request and response (R1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// Read one object.
    Get,
    /// Read a list.
    List,
    /// Create an object.
    Add,
    /// Change an object.
    Update,
    /// Delete an object.
    Remove,
    /// Any other operation: a request with an action envelope (R1.5).
    Action,
}

impl MethodKind {
    /// Spec spelling: `get`, `list`, `add`, `update`, `remove`, `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Get => "get",
            MethodKind::List => "list",
            MethodKind::Add => "add",
            MethodKind::Update => "update",
            MethodKind::Remove => "remove",
            MethodKind::Action => "action",
        }
    }

    /// Parses the spec spelling.
    pub fn from_name(s: &str) -> Option<MethodKind> {
        Some(match s {
            "get" => MethodKind::Get,
            "list" => MethodKind::List,
            "add" => MethodKind::Add,
            "update" => MethodKind::Update,
            "remove" => MethodKind::Remove,
            "action" => MethodKind::Action,
            _ => return None,
        })
    }
}

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
}

impl Verb {
    /// Upper-case HTTP spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
            Verb::Patch => "PATCH",
        }
    }

    /// Parses the upper-case HTTP spelling.
    pub fn from_name(s: &str) -> Option<Verb> {
        Some(match s {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "PUT" => Verb::Put,
            "DELETE" => Verb::Delete,
            "PATCH" => Verb::Patch,
            _ => return None,
        })
    }
}

/// One method of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Model name (`start`, `using_ssh`).
    pub name: String,
    /// For a signature method: the method whose request it sends (`install`).
    /// SDK name is then `<base>_<name>` (see [`Method::sdk_name`]).
    pub base: Option<String>,
    /// Kind (already resolved through the base chain).
    pub kind: MethodKind,
    /// HTTP verb.
    pub verb: Verb,
    /// Path segment appended to the service path (actions, R1.2); `None` for
    /// requests on the service path itself.
    pub segment: Option<String>,
    /// Parameters, in model order.
    pub parameters: Vec<Parameter>,
    /// Service that declares the method (the service itself unless inherited).
    pub declared_in: String,
    /// Annotations.
    pub annotations: Annotations,
}

impl Method {
    /// Name the SDK exposes: `<base>_<name>` for signatures, else the name.
    pub fn sdk_name(&self) -> String {
        match &self.base {
            Some(b) => format!("{b}_{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The parameter returned to the caller, if any.
    pub fn output(&self) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.output.is_some())
    }

    /// The parameter sent as the request body document (add, update), if any.
    pub fn body(&self) -> Option<&Parameter> {
        self.parameters
            .iter()
            .find(|p| p.input == Some(ParamIn::Body))
    }
}

/// Where an input parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamIn {
    /// URL query parameter named [`Parameter::tag`] (R1.3).
    Query,
    /// The request body document itself; its root element is the type's tag
    /// (or list tag for a list) (R1.4).
    Body,
    /// A child element of the action envelope named [`Parameter::tag`] (R1.5, R1.7).
    Action,
}

/// Where an output parameter is found in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamOut {
    /// The response document itself (root = type's tag, or list tag for a list) (R1.6).
    Body,
    /// A child element named [`Parameter::tag`] of the response action envelope (R1.6).
    Action,
}

/// A method parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Model name (`all_content`, `vm`).
    pub name: String,
    /// Type.
    pub ty: TypeRef,
    /// Where it goes in the request, if it is an input.
    pub input: Option<ParamIn>,
    /// Where it is found in the response, if it is an output.
    pub output: Option<ParamOut>,
    /// Query parameter name or action child element name (`T(name)`).
    pub tag: String,
    /// For list parameters inside an action: the item element name.
    pub item_tag: Option<String>,
    /// The model marks the parameter mandatory.
    pub mandatory: bool,
    /// Annotations.
    pub annotations: Annotations,
}

/// How a locator extends the path of its service (R2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocatorPath {
    /// A fixed segment (`diskattachments`).
    Segment(String),
    /// The value of this parameter (usually `id`) is the segment.
    Parameter(Parameter),
}

/// A locator: how to get from a service to another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    /// Model name (`disk_attachments`, `vm`).
    pub name: String,
    /// Target service.
    pub service: String,
    /// Path extension.
    pub path: LocatorPath,
    /// Service that declares the locator (the service itself unless inherited).
    pub declared_in: String,
    /// Annotations.
    pub annotations: Annotations,
}
