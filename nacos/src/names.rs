//! Nacos names onto keel's: `namespaceId` → tenant, `group@@service` → group and service,
//! `clusterName` → a reserved metadata key.

use keel_registry::{DEFAULT_GROUP, ServiceId, validate_name};

use crate::NacosSettings;
use crate::error::{NacosError, NacosResult};
use crate::params::Params;

/// Nacos's name of the public namespace.
pub(crate) const PUBLIC_NAMESPACE: &str = "public";
/// The cluster of an instance registered without one.
pub(crate) const DEFAULT_CLUSTER: &str = "DEFAULT";
/// Where an instance's Nacos cluster is kept in keel metadata; Nacos output hides it. Absent
/// means [`DEFAULT_CLUSTER`], so natively registered instances are in the default cluster.
pub(crate) const CLUSTER_KEY: &str = "nacos.cluster";
/// What separates the group from the service in a grouped Nacos name.
const GROUP_SEPARATOR: &str = "@@";

/// How a handler reads a missing `serviceName`: through `WebUtils.required` or through a
/// Spring `@RequestParam` (the two answer different texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Required {
    /// `Param 'serviceName' is required.`
    WebUtils,
    /// `Parameter 'serviceName' is missing`
    RequestParam,
}

/// A Nacos service resolved to keel's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NacosService {
    /// The keel service (tenant, group, name).
    pub(crate) id: ServiceId,
    /// The namespace as Nacos shows it (`public` for the public tenant).
    pub(crate) namespace: String,
}

impl NacosService {
    /// `group@@service`, the name Nacos's naming module uses everywhere.
    pub(crate) fn grouped(&self) -> String {
        grouped(&self.id.group, &self.id.service)
    }
}

/// `group@@service`.
pub(crate) fn grouped(group: &str, service: &str) -> String {
    format!("{group}{GROUP_SEPARATOR}{service}")
}

/// The keel tenant of the request's `namespaceId`, and the namespace as Nacos shows it.
pub(crate) fn namespace(
    settings: &NacosSettings,
    params: &Params,
) -> NacosResult<(String, String)> {
    let Some(namespace) = params
        .optional("namespaceId")
        .filter(|n| *n != PUBLIC_NAMESPACE)
    else {
        return Ok((settings.public_tenant.clone(), PUBLIC_NAMESPACE.to_owned()));
    };
    if namespace == settings.public_tenant {
        // It would silently share the public namespace; saying so beats surprising isolation.
        return Err(NacosError::bad_request(format!(
            "Param 'namespaceId' is illegal, {namespace:?} is keel's name of the public namespace: \
             use \"public\" or leave namespaceId empty for it, or choose another namespace id"
        )));
    }
    validate_name("namespaceId", namespace).map_err(illegal("namespaceId"))?;
    Ok((namespace.to_owned(), namespace.to_owned()))
}

/// The request's service: `serviceName` with or without `group@@` (with it, `groupName` is
/// ignored, as Nacos's `ServiceNameFilter` does), in the request's namespace.
pub(crate) fn service(
    settings: &NacosSettings,
    params: &Params,
    required: Required,
) -> NacosResult<NacosService> {
    let name = match required {
        Required::WebUtils => params.required("serviceName")?,
        Required::RequestParam => params.request_param("serviceName")?,
    };
    let (group, service) = match name.split_once(GROUP_SEPARATOR) {
        Some(("", _)) => {
            return Err(NacosError::bad_request(
                "Param 'serviceName' is illegal, groupName can't be empty",
            ));
        }
        Some((_, "")) => {
            return Err(NacosError::bad_request(
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'",
            ));
        }
        Some((group, service)) => (group, service),
        None => (params.optional("groupName").unwrap_or(DEFAULT_GROUP), name),
    };
    let (tenant, shown) = namespace(settings, params)?;
    validate_name("groupName", group).map_err(illegal("groupName"))?;
    validate_name("serviceName", service).map_err(illegal("serviceName"))?;
    Ok(NacosService {
        id: ServiceId::new(tenant, group, service),
        namespace: shown,
    })
}

/// The request's group (`groupName`, default `DEFAULT_GROUP`), checked.
pub(crate) fn group(params: &Params) -> NacosResult<String> {
    let group = params.optional("groupName").unwrap_or(DEFAULT_GROUP);
    validate_name("groupName", group).map_err(illegal("groupName"))?;
    Ok(group.to_owned())
}

/// The request's cluster: `clusterName`, else `cluster`, else `DEFAULT`; checked as Nacos
/// checks an instance's cluster (`NamingUtils.checkInstanceIsLegal`).
pub(crate) fn cluster(params: &Params) -> NacosResult<String> {
    let cluster = params
        .optional("clusterName")
        .or_else(|| params.optional("cluster"))
        .unwrap_or(DEFAULT_CLUSTER);
    check_cluster(cluster)?;
    Ok(cluster.to_owned())
}

/// `^[0-9a-zA-Z-]+$`, else Nacos's 400 text.
pub(crate) fn check_cluster(cluster: &str) -> NacosResult<()> {
    if !cluster.is_empty()
        && cluster
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(NacosError::bad_request(format!(
            "Instance 'clusterName' should be characters with only 0-9a-zA-Z-. (current: {cluster})"
        )))
    }
}

/// A keel validation failure as the text of Nacos's parameter checker.
fn illegal(param: &'static str) -> impl Fn(keel_registry::Error) -> NacosError {
    move |e| NacosError::bad_request(format!("Param '{param}' is illegal, {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(query: &str) -> NacosResult<NacosService> {
        service(
            &NacosSettings::default(),
            &Params::parse(query),
            Required::WebUtils,
        )
    }

    #[test]
    fn grouped_names_win_over_group_name() {
        let s = resolve("serviceName=g1%40%40svc&groupName=other").unwrap();
        assert_eq!(s.id, ServiceId::new("default", "g1", "svc"));
        assert_eq!(s.grouped(), "g1@@svc");
        assert_eq!(s.namespace, "public");
        let s = resolve("serviceName=svc&groupName=shop&namespaceId=team-a").unwrap();
        assert_eq!(s.id, ServiceId::new("team-a", "shop", "svc"));
        assert_eq!(s.namespace, "team-a");
        let s = resolve("serviceName=svc&namespaceId=public").unwrap();
        assert_eq!(s.id, ServiceId::new("default", "DEFAULT_GROUP", "svc"));
    }

    #[test]
    fn bad_names_are_refused_with_nacos_texts() {
        for query in [
            "serviceName=%40%40svc",
            "serviceName=g%40%40",
            "serviceName=a%2Fb",
            "serviceName=s&namespaceId=default",
            "serviceName=s&groupName=a%20b",
        ] {
            let e = format!("{:?}", resolve(query).unwrap_err());
            assert!(e.contains("is illegal"), "{query}: {e}");
        }
        let e = format!("{:?}", resolve("groupName=g").unwrap_err());
        assert!(e.contains("Param 'serviceName' is required."), "{e}");
    }

    #[test]
    fn clusters_default_and_are_checked() {
        assert_eq!(cluster(&Params::parse("")).unwrap(), "DEFAULT");
        assert_eq!(cluster(&Params::parse("cluster=c1")).unwrap(), "c1");
        assert_eq!(
            cluster(&Params::parse("clusterName=None&cluster=c1")).unwrap(),
            "None"
        );
        assert!(cluster(&Params::parse("clusterName=a_b")).is_err());
    }
}
