//! Who the report's private addresses are: the network interface that holds each one now, and
//! what owns it (an instance by id and `Name` tag, a Lambda function, a load balancer, an EKS
//! pod, a VPC endpoint, ...), with its Availability Zone. Traffic from another zone than the NAT
//! Gateway's pays for crossing zones on top of the NAT's processing, and says so.

use std::collections::BTreeMap;

use crate::notify::printable;

/// Data transfer between Availability Zones in one Region: USD 0.01 per GB charged on each side
/// (Amazon EC2 On-Demand Pricing, "Data Transfer within the same AWS Region"), so 0.02 a GB
/// crossing.
pub const CROSS_AZ_USD_PER_GB: f64 = 0.02;

/// How much of one interface's description the email shows.
const DESCRIPTION_LIMIT: usize = 60;

/// One network interface as DescribeNetworkInterfaces (and DescribeTags for its instance's
/// `Name`) shows it, for one of its private addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    pub address: String,
    pub interface_id: String,
    /// `InterfaceType`: interface, lambda, network_load_balancer, vpc_endpoint, nat_gateway, ...
    pub interface_type: String,
    pub description: String,
    pub instance_id: Option<String>,
    pub instance_name: Option<String>,
    pub availability_zone: String,
    pub subnet_id: String,
}

/// What holds an address, named for the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub label: String,
    pub availability_zone: String,
    pub subnet_id: String,
}

/// The holders of the report's addresses, and the NAT Gateway's own zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workloads {
    pub by_address: BTreeMap<String, Workload>,
    /// The zone of the interface that holds one of the NAT Gateway's addresses.
    pub nat_zone: Option<String>,
}

impl Workloads {
    /// The holders of `interfaces`' addresses; the NAT's zone from its own interface.
    pub fn new(interfaces: &[Interface], nat_addresses: &[String]) -> Self {
        let nat_zone = interfaces
            .iter()
            .find(|i| nat_addresses.contains(&i.address))
            .map(|i| i.availability_zone.clone())
            .filter(|z| !z.is_empty());
        let by_address = interfaces
            .iter()
            .map(|i| {
                let workload = Workload {
                    label: label(i),
                    availability_zone: printable(&i.availability_zone, 40),
                    subnet_id: printable(&i.subnet_id, 40),
                };
                (i.address.clone(), workload)
            })
            .collect();
        Self { by_address, nat_zone }
    }

    /// Whether `address` is held in another zone than the NAT Gateway's.
    pub fn crosses_zones(&self, address: &str) -> bool {
        match (self.by_address.get(address), &self.nat_zone) {
            (Some(w), Some(nat)) => !w.availability_zone.is_empty() && &w.availability_zone != nat,
            _ => false,
        }
    }
}

/// An interface's owner in a few words: the instance (and its `Name`), else what the interface
/// type and the description the owning service wrote say ("Requester-managed network
/// interfaces", EC2 User Guide: Lambda writes `AWS Lambda VPC ENI-<function>-...`, a load
/// balancer `ELB <type>/<name>/<id>`, EKS `aws-K8S-...`).
fn label(interface: &Interface) -> String {
    if let Some(instance) = &interface.instance_id {
        let instance = printable(instance, 30);
        return match interface.instance_name.as_deref().map(|n| printable(n, 40)).filter(|n| !n.is_empty()) {
            Some(name) => format!("{instance} ({name})"),
            None => instance,
        };
    }
    let description = printable(&interface.description, DESCRIPTION_LIMIT);
    let kind = match interface.interface_type.as_str() {
        "lambda" => "Lambda",
        "network_load_balancer" => "Network Load Balancer",
        "gateway_load_balancer" | "gateway_load_balancer_endpoint" => "Gateway Load Balancer",
        "vpc_endpoint" => "VPC endpoint",
        "nat_gateway" => "NAT Gateway",
        _ if description.starts_with("ELB ") => "load balancer",
        _ if description.starts_with("aws-K8S-") || description.starts_with("Amazon EKS") => "EKS",
        _ => "interface",
    };
    let interface_id = printable(&interface.interface_id, 30);
    if description.is_empty() {
        format!("{kind} {interface_id}")
    } else {
        format!("{kind} {interface_id} \"{description}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(address: &str, zone: &str) -> Interface {
        Interface {
            address: address.into(),
            interface_id: format!("eni-{}", address.replace('.', "")),
            interface_type: "interface".into(),
            availability_zone: zone.into(),
            subnet_id: "subnet-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_instance_is_named_by_its_id_and_name_tag_and_anything_else_by_its_owner() {
        let web = Interface {
            instance_id: Some("i-0abc".into()),
            instance_name: Some("web-1".into()),
            ..interface("10.0.1.25", "us-east-1a")
        };
        let lambda = Interface {
            interface_type: "lambda".into(),
            description: "AWS Lambda VPC ENI-resizer-1b2c".into(),
            ..interface("10.0.1.40", "us-east-1a")
        };
        let elb =
            Interface { description: "ELB app/shop/50dc6c495c0c9188".into(), ..interface("10.0.1.50", "us-east-1a") };
        let bare = Interface { instance_id: Some("i-0def".into()), ..interface("10.0.1.60", "us-east-1a") };
        let w = Workloads::new(&[web, lambda, elb, bare], &[]);
        let label = |a: &str| w.by_address[a].label.clone();
        assert_eq!(label("10.0.1.25"), "i-0abc (web-1)");
        assert_eq!(label("10.0.1.40"), "Lambda eni-100140 \"AWS Lambda VPC ENI-resizer-1b2c\"");
        assert_eq!(label("10.0.1.50"), "load balancer eni-100150 \"ELB app/shop/50dc6c495c0c9188\"");
        assert_eq!(label("10.0.1.60"), "i-0def");
    }

    #[test]
    fn another_zone_than_the_nats_is_flagged() {
        let nat = interface("10.0.0.220", "us-east-1a");
        let w = Workloads::new(
            &[nat, interface("10.0.1.25", "us-east-1a"), interface("10.0.2.42", "us-east-1b")],
            &["10.0.0.220".into()],
        );
        assert_eq!(w.nat_zone.as_deref(), Some("us-east-1a"));
        assert!(!w.crosses_zones("10.0.1.25"));
        assert!(w.crosses_zones("10.0.2.42"));
        assert!(!w.crosses_zones("10.9.9.9"), "an address nobody holds crosses nothing we know of");
        // Without the NAT's own interface, no zone is compared
        assert!(!Workloads::new(&[interface("10.0.2.42", "us-east-1b")], &[]).crosses_zones("10.0.2.42"));
    }

    #[test]
    fn what_the_api_wrote_is_shown_printable_and_bounded() {
        let odd = Interface {
            instance_id: Some("i-1".into()),
            instance_name: Some(format!("a\u{1b}[31m{}", "n".repeat(100))),
            ..interface("10.0.1.9", "us-east-1a")
        };
        let label = &Workloads::new(&[odd], &[]).by_address["10.0.1.9"].label;
        assert!(!label.chars().any(char::is_control), "{label}");
        assert!(label.len() < 60, "{label}");
    }
}
