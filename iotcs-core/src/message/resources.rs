//! The RESOURCES_REPORT payload, device to cloud: `{"type": "JSON", "value":
//! {"reportType", "endpointName", "reconciliationMark"?, "resources": […]}}`
//! (protocol §5.2, protocol-js §6.8). Devices announce the resources they
//! serve with it and expect no answer.

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Map, Value as Json};

use super::limits;
use super::md5::Md5;
use super::wire::{self, Ctx};
use crate::Error;

wire_enum! {
    /// What a resource report says about its resources.
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "the service is frozen with exactly these three report types"
    )]
    pub enum ReportType {
        /// `UPDATE`: resources added or removed.
        Update = "UPDATE",
        /// `DELETE`: resources removed.
        Delete = "DELETE",
        /// `RECONCILIATION`: the complete list.
        Reconciliation = "RECONCILIATION",
    }
}

wire_enum! {
    /// Whether a resource is being added or removed.
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
    #[allow(
        clippy::exhaustive_enums,
        reason = "a resource is either added or removed"
    )]
    pub enum ResourceStatus {
        /// `ADDED`.
        #[default]
        Added = "ADDED",
        /// `REMOVED`.
        Removed = "REMOVED",
    }
}

/// The payload of a `RESOURCES_REPORT` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ResourcesReport {
    report_type: ReportType,
    endpoint_name: String,
    reconciliation_mark: Option<String>,
    resources: Vec<Resource>,
}

/// One resource a device serves.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Resource {
    endpoint_name: Option<String>,
    name: String,
    path: String,
    status: ResourceStatus,
    methods: String,
}

/// The reconciliation mark of resources with these paths, in the order given:
/// the lower-case hex MD5 of the paths concatenated with nothing between.
///
/// Oracle's JS client hashes in insertion order (used here), its Java client
/// sorts the paths first; the server must accept both (protocol §10.7).
pub fn reconciliation_mark<'a, I>(paths: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let mut md5 = Md5::new();
    for path in paths {
        md5.update(path.as_bytes());
    }
    crate::encoding::hex_encode(&md5.finish())
}

impl ResourcesReport {
    /// A report of `report_type` for endpoint `endpoint_name`, without a
    /// reconciliation mark.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `endpoint_name` is empty.
    pub fn new(
        report_type: ReportType,
        endpoint_name: impl Into<String>,
        resources: Vec<Resource>,
    ) -> Result<ResourcesReport, Error> {
        let endpoint_name = endpoint_name.into();
        if endpoint_name.is_empty() {
            return Err(Error::argument(
                "the resources report's endpoint name is empty",
            ));
        }
        Ok(ResourcesReport {
            report_type,
            endpoint_name,
            reconciliation_mark: None,
            resources,
        })
    }

    /// Sets the reconciliation mark.
    pub fn with_reconciliation_mark(mut self, mark: impl Into<String>) -> ResourcesReport {
        self.reconciliation_mark = Some(mark.into());
        self
    }

    /// Sets the reconciliation mark to [`reconciliation_mark`] of the
    /// resources' paths in their order, as Oracle's JS client does.
    pub fn with_computed_mark(mut self) -> ResourcesReport {
        self.reconciliation_mark = Some(reconciliation_mark(
            self.resources.iter().map(Resource::path),
        ));
        self
    }

    /// The report type.
    pub fn report_type(&self) -> ReportType {
        self.report_type
    }

    /// The endpoint the resources belong to.
    pub fn endpoint_name(&self) -> &str {
        &self.endpoint_name
    }

    /// The reconciliation mark, when the device sent one.
    pub fn reconciliation_mark(&self) -> Option<&str> {
        self.reconciliation_mark.as_deref()
    }

    /// The resources.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Reads the payload of a RESOURCES_REPORT message. `type` must be `JSON`
    /// when present; missing `resources` is an empty list, and a resource's
    /// missing status is `ADDED`.
    pub(super) fn parse(mut obj: Map<String, Json>, ctx: Ctx) -> Result<ResourcesReport, Error> {
        if let Some(ty) = wire::optional_string(ctx, &mut obj, "type", "payload.type")?
            && ty != "JSON"
        {
            return Err(ctx.error(format_args!(
                "payload.type {:?} is not JSON, the only report encoding",
                wire::shorten(&ty, 80)
            )));
        }
        let value = wire::required(ctx, &mut obj, "value", "payload.value")?;
        let mut value = wire::object(ctx, value, "payload.value")?;
        let report_type = wire::wire_enum(
            ctx,
            wire::required(ctx, &mut value, "reportType", "payload.value.reportType")?,
            "payload.value.reportType",
        )?;
        let endpoint_name = wire::required_string(
            ctx,
            &mut value,
            "endpointName",
            "payload.value.endpointName",
        )?;
        let reconciliation_mark = wire::optional_string(
            ctx,
            &mut value,
            "reconciliationMark",
            "payload.value.reconciliationMark",
        )?;
        let resources = match wire::optional(&mut value, "resources") {
            None => Vec::new(),
            Some(Json::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| Resource::parse(ctx, item, i))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ctx.error(format_args!(
                    "payload.value.resources is {}, expected an array",
                    wire::kind(&other)
                )));
            }
        };
        Ok(ResourcesReport {
            report_type,
            endpoint_name,
            reconciliation_mark,
            resources,
        })
    }

    /// Checks the size limits (see [`super::Message::check_limits`]).
    pub(super) fn check_limits(&self) -> Result<(), Error> {
        limits::check_len(
            format_args!("payload.value.endpointName"),
            self.endpoint_name.len(),
        )?;
        if let Some(mark) = &self.reconciliation_mark {
            limits::check_len(format_args!("payload.value.reconciliationMark"), mark.len())?;
        }
        for (i, r) in self.resources.iter().enumerate() {
            let field = |name| format!("payload.value.resources[{i}].{name}");
            for (name, value) in [
                ("name", &r.name),
                ("path", &r.path),
                ("methods", &r.methods),
            ] {
                limits::check_len(format_args!("{}", field(name)), value.len())?;
            }
            if let Some(ep) = &r.endpoint_name {
                limits::check_len(format_args!("{}", field("endpointName")), ep.len())?;
            }
        }
        Ok(())
    }
}

impl Serialize for ResourcesReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ResourcesReport", 2)?;
        st.serialize_field("type", "JSON")?;
        st.serialize_field("value", &ReportValue(self))?;
        st.end()
    }
}

/// The inner `value` object of a report.
struct ReportValue<'a>(&'a ResourcesReport);

impl Serialize for ReportValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut st = s.serialize_struct("ReportValue", 4)?;
        st.serialize_field("reportType", &r.report_type)?;
        st.serialize_field("endpointName", &r.endpoint_name)?;
        if let Some(mark) = &r.reconciliation_mark {
            st.serialize_field("reconciliationMark", mark)?;
        }
        st.serialize_field("resources", &r.resources)?;
        st.end()
    }
}

impl Resource {
    /// A resource `name` served at `path` for `methods`, a comma-separated
    /// list without spaces such as `GET,PUT`.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] if `name`, `path` or `methods` is empty.
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        methods: impl Into<String>,
        status: ResourceStatus,
    ) -> Result<Resource, Error> {
        let (name, path, methods) = (name.into(), path.into(), methods.into());
        for (what, value) in [("name", &name), ("path", &path), ("methods", &methods)] {
            if value.is_empty() {
                return Err(Error::argument(format!("the resource {what} is empty")));
            }
        }
        Ok(Resource {
            endpoint_name: None,
            name,
            path,
            status,
            methods,
        })
    }

    /// Names the endpoint serving this resource, when it differs from the
    /// report's (a gateway reporting for its devices).
    pub fn with_endpoint_name(mut self, endpoint_name: impl Into<String>) -> Resource {
        self.endpoint_name = Some(endpoint_name.into());
        self
    }

    /// The endpoint serving this resource, if the report names one per
    /// resource.
    pub fn endpoint_name(&self) -> Option<&str> {
        self.endpoint_name.as_deref()
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path requests for it use as their url.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Added or removed.
    pub fn status(&self) -> ResourceStatus {
        self.status
    }

    /// The methods as sent, e.g. `GET,PUT`.
    pub fn methods(&self) -> &str {
        &self.methods
    }

    /// The methods one by one.
    pub fn method_list(&self) -> impl Iterator<Item = &str> {
        self.methods
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }

    /// Reads resource `i` of a report. `methods` may also be an array of
    /// names, which is joined with commas.
    fn parse(ctx: Ctx, v: Json, i: usize) -> Result<Resource, Error> {
        let path = |field: &str| format!("payload.value.resources[{i}].{field}");
        let mut obj = wire::object(ctx, v, &format!("payload.value.resources[{i}]"))?;
        let endpoint_name =
            wire::optional_string(ctx, &mut obj, "endpointName", &path("endpointName"))?;
        let name = wire::required_string(ctx, &mut obj, "name", &path("name"))?;
        let res_path = wire::required_string(ctx, &mut obj, "path", &path("path"))?;
        let status = match wire::optional(&mut obj, "status") {
            Some(v) => wire::wire_enum(ctx, v, &path("status"))?,
            None => ResourceStatus::default(),
        };
        let methods = match wire::optional(&mut obj, "methods") {
            None => String::new(),
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|m| wire::string(ctx, m, &path("methods[]")))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            Some(other) => wire::string(ctx, other, &path("methods"))?,
        };
        Ok(Resource {
            endpoint_name,
            name,
            path: res_path,
            status,
            methods,
        })
    }
}

impl Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Resource", 5)?;
        if let Some(ep) = &self.endpoint_name {
            st.serialize_field("endpointName", ep)?;
        }
        st.serialize_field("name", &self.name)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("methods", &self.methods)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::message::{Message, Payload, Priority};

    /// The six capability resources a dispatcher announces (protocol-js §6.8).
    const CAPABILITIES: [(&str, &str); 6] = [
        (
            "deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged",
            "PUT",
        ),
        (
            "deviceModels/urn:oracle:iot:dcd:capability:message_dispatcher/counters",
            "GET",
        ),
        (
            "deviceModels/urn:oracle:iot:dcd:capability:message_dispatcher/reset",
            "PUT",
        ),
        (
            "deviceModels/urn:oracle:iot:dcd:capability:message_dispatcher/pollingInterval",
            "GET,PUT",
        ),
        (
            "deviceModels/urn:oracle:iot:dcd:capability:diagnostics/info",
            "GET",
        ),
        (
            "deviceModels/urn:oracle:iot:dcd:capability:diagnostics/testConnectivity",
            "GET,PUT",
        ),
    ];

    #[test]
    fn reconciliation_mark_matches_the_observed_vector() {
        let mark = reconciliation_mark(CAPABILITIES.iter().map(|(path, _)| *path));
        assert_eq!(mark, "b7c7612d3e1e41839e6ce6fbc3d2592e");
        assert_eq!(reconciliation_mark([]), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn builds_the_dispatcher_report_as_node_does() {
        let resources = CAPABILITIES
            .iter()
            .map(|(p, m)| Resource::new(*p, *p, *m, ResourceStatus::Added).unwrap())
            .collect();
        let report = ResourcesReport::new(ReportType::Update, "ep-1", resources)
            .unwrap()
            .with_computed_mark();
        assert_eq!(
            report.reconciliation_mark(),
            Some("b7c7612d3e1e41839e6ce6fbc3d2592e")
        );
        let m = Message::resources_report("ep-1", report, 1).unwrap();
        assert_eq!(m.priority(), Priority::Highest);
        let text = m.to_json();
        assert!(
            text.contains(r#""payload":{"type":"JSON","value":{"reportType":"UPDATE","endpointName":"ep-1","reconciliationMark":"b7c7612d3e1e41839e6ce6fbc3d2592e","resources":[{"name":"deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged","path":"#),
            "{text}"
        );
        assert!(
            text.contains(r#""status":"ADDED","methods":"GET,PUT"}"#),
            "{text}"
        );
        assert_eq!(Message::parse(&text).unwrap(), m);
    }

    #[test]
    fn resource_accessors_and_per_resource_endpoint() {
        let r = Resource::new("n", "p", "GET, PUT", ResourceStatus::Removed)
            .unwrap()
            .with_endpoint_name("icd-1");
        assert_eq!((r.name(), r.path(), r.methods()), ("n", "p", "GET, PUT"));
        assert_eq!(r.method_list().collect::<Vec<_>>(), ["GET", "PUT"]);
        assert_eq!(
            (r.endpoint_name(), r.status()),
            (Some("icd-1"), ResourceStatus::Removed)
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"endpointName":"icd-1","name":"n","path":"p","status":"REMOVED","methods":"GET, PUT"}"#
        );
        let report = ResourcesReport::new(ReportType::Delete, "gw", vec![r])
            .unwrap()
            .with_reconciliation_mark("m");
        assert_eq!(
            (report.report_type(), report.endpoint_name()),
            (ReportType::Delete, "gw")
        );
        assert_eq!(report.resources().len(), 1);
        assert!(!serde_json::to_string(&report).unwrap().contains("null"));
    }

    #[test]
    fn new_refuses_empty_names() {
        assert!(ResourcesReport::new(ReportType::Update, "", Vec::new()).is_err());
        for (name, path, methods, field) in [
            ("", "p", "GET", "name"),
            ("n", "", "GET", "path"),
            ("n", "p", "", "methods"),
        ] {
            let err = Resource::new(name, path, methods, ResourceStatus::Added).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("resource {field} is empty")),
                "{err}"
            );
        }
    }

    #[test]
    fn parses_oracle_js_report_with_id() {
        // protocol-js §6.2: Node gives RESOURCES_REPORT a second UUID as "id",
        // and remainingRetries.
        let text = r#"{"id":"6c3bfa9e-2a7c-4d31-8f0b-1e2d3c4b5a69","clientId":"0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b","source":"0-AE","destination":"","sender":"","priority":"HIGHEST","reliability":"BEST_EFFORT","eventTime":1600000000000,"type":"RESOURCES_REPORT","payload":{"type":"JSON","value":{"reportType":"UPDATE","endpointName":"0-AE","resources":[{"name":"urn:oracle:iot:dcd:capability:device_policy","path":"deviceModels/urn:oracle:iot:dcd:capability:device_policy/policyChanged","status":"ADDED","methods":"PUT","endpointName":"0-AE"}],"reconciliationMark":"b7c7612d3e1e41839e6ce6fbc3d2592e"}},"remainingRetries":3}"#;
        let m = Message::parse(text).unwrap();
        assert_eq!(m.id(), Some("6c3bfa9e-2a7c-4d31-8f0b-1e2d3c4b5a69"));
        let Payload::ResourcesReport(r) = m.payload() else {
            panic!("not a report")
        };
        assert_eq!(r.report_type(), ReportType::Update);
        assert_eq!(
            r.reconciliation_mark(),
            Some("b7c7612d3e1e41839e6ce6fbc3d2592e")
        );
        assert_eq!(r.resources()[0].endpoint_name(), Some("0-AE"));
        assert_eq!(r.resources()[0].methods(), "PUT");
    }

    fn parse(payload: Json) -> Result<ResourcesReport, Error> {
        let m = json!({"clientId": "c", "source": "ep", "eventTime": 1, "type": "RESOURCES_REPORT",
            "payload": payload});
        match Message::from_value(&m)?.into_payload() {
            Payload::ResourcesReport(p) => Ok(p),
            other => panic!("not a report: {other:?}"),
        }
    }

    #[test]
    fn parse_tolerates_missing_parts_and_method_arrays() {
        let r = parse(json!({"value": {"reportType": "RECONCILIATION", "endpointName": "ep"}}))
            .unwrap();
        assert!(r.resources().is_empty() && r.reconciliation_mark().is_none());
        let r = parse(
            json!({"type": "JSON", "value": {"reportType": "UPDATE", "endpointName": "ep",
            "resources": [{"name": "n", "path": "p", "methods": ["GET", "PUT"]}]}}),
        )
        .unwrap();
        assert_eq!(r.resources()[0].methods(), "GET,PUT");
        assert_eq!(r.resources()[0].status(), ResourceStatus::Added);
    }

    #[track_caller]
    fn rejects(payload: Json, expected: &str) {
        let err = parse(payload).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn parse_rejects_a_broken_payload() {
        let value = |v: Json| json!({"type": "JSON", "value": v});
        rejects(
            json!({"type": "XML", "value": {}}),
            r#"payload.type "XML" is not JSON"#,
        );
        rejects(json!({"type": "JSON"}), "payload.value is missing");
        rejects(
            json!({"value": "x"}),
            "payload.value is a string, expected an object",
        );
        rejects(
            value(json!({"endpointName": "e"})),
            "payload.value.reportType is missing",
        );
        rejects(
            value(json!({"reportType": "CREATE", "endpointName": "e"})),
            r#"payload.value.reportType "CREATE" is not one of UPDATE, DELETE, RECONCILIATION"#,
        );
        rejects(
            value(json!({"reportType": "UPDATE"})),
            "payload.value.endpointName is missing",
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e", "reconciliationMark": 1})),
            "payload.value.reconciliationMark is a number",
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e", "resources": {}})),
            "payload.value.resources is an object, expected an array",
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e", "resources": [1]})),
            "payload.value.resources[0] is a number, expected an object",
        );
        rejects(
            value(
                json!({"reportType": "UPDATE", "endpointName": "e", "resources": [{"path": "p"}]}),
            ),
            "payload.value.resources[0].name is missing",
        );
        rejects(
            value(
                json!({"reportType": "UPDATE", "endpointName": "e", "resources": [{"name": "n"}]}),
            ),
            "payload.value.resources[0].path is missing",
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e",
            "resources": [{"name": "n", "path": "p", "status": "GONE"}]})),
            r#"payload.value.resources[0].status "GONE" is not one of ADDED, REMOVED"#,
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e",
            "resources": [{"name": "n", "path": "p", "methods": [1]}]})),
            "payload.value.resources[0].methods[] is a number",
        );
        rejects(
            value(json!({"reportType": "UPDATE", "endpointName": "e",
            "resources": [{"name": "n", "path": "p", "methods": 1}]})),
            "payload.value.resources[0].methods is a number",
        );
    }

    #[test]
    fn limits_cover_the_resources() {
        let long = "p".repeat(crate::message::MAX_STRING_BYTES + 1);
        let r = Resource::new("n", long, "GET", ResourceStatus::Added).unwrap();
        let report = ResourcesReport::new(ReportType::Update, "ep", vec![r]).unwrap();
        let m = Message::resources_report("ep", report, 0).unwrap();
        let err = m.check_limits().unwrap_err().to_string();
        assert!(
            err.contains("payload.value.resources[0].path is 65537 bytes"),
            "{err}"
        );
    }
}
