//! The dependency graph between fields: evaluation order, and the cycles that prevent one.

use std::collections::BTreeSet;

/// Field `a` depends on field `b` when `a`'s relevance or calculation reads `b`, or `b`
/// encloses `a`.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    dependencies: Vec<BTreeSet<usize>>,
}

impl Graph {
    pub(crate) fn new(size: usize) -> Self {
        Graph {
            dependencies: vec![BTreeSet::new(); size],
        }
    }

    pub(crate) fn depends(&mut self, dependant: usize, dependency: usize) {
        self.dependencies[dependant].insert(dependency);
    }

    /// Dependencies first, stable in document order (Kahn's algorithm, always taking the
    /// lowest ready index). Fields on or behind a cycle are left out.
    pub(crate) fn order(&self) -> Vec<usize> {
        let size = self.dependencies.len();
        let mut done = vec![false; size];
        let mut order = Vec::with_capacity(size);
        // Quadratic, but forms are capped at a few hundred fields and this runs once per compile.
        loop {
            let ready = (0..size).find(|&index| {
                !done[index]
                    && self.dependencies[index]
                        .iter()
                        .all(|&dependency| done[dependency])
            });
            match ready {
                Some(index) => {
                    done[index] = true;
                    order.push(index);
                }
                None => return order,
            }
        }
    }
}

/// The distinct cycles among the fields left out of `order`, each listed from its lowest index
/// in dependency direction.
pub(crate) fn find_cycles(graph: &Graph, order: &[usize]) -> Vec<Vec<usize>> {
    let size = graph.dependencies.len();
    let mut placed = vec![false; size];
    for &index in order {
        placed[index] = true;
    }
    let mut reported: BTreeSet<BTreeSet<usize>> = BTreeSet::new();
    let mut cycles = Vec::new();
    for start in (0..size).filter(|&index| !placed[index]) {
        // Every unplaced field has an unplaced dependency, so following them must loop.
        let mut walk = vec![start];
        let mut current = start;
        while let Some(&next) = graph.dependencies[current]
            .iter()
            .find(|&&dependency| !placed[dependency])
        {
            if let Some(position) = walk.iter().position(|&seen| seen == next) {
                let mut cycle = walk[position..].to_vec();
                let members: BTreeSet<usize> = cycle.iter().copied().collect();
                if reported.insert(members) {
                    let lowest = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, index)| **index)
                        .map(|(position, _)| position)
                        .unwrap_or(0);
                    cycle.rotate_left(lowest);
                    cycles.push(cycle);
                }
                break;
            }
            walk.push(next);
            current = next;
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first_and_finds_each_cycle_once() {
        let mut graph = Graph::new(5);
        graph.depends(0, 1);
        graph.depends(2, 3);
        graph.depends(3, 2);
        graph.depends(4, 2);
        let order = graph.order();
        assert_eq!(order, [1, 0]);
        assert_eq!(find_cycles(&graph, &order), [vec![2, 3]]);
    }
}
